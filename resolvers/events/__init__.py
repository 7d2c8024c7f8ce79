"""The producers' API (SERVICE only): publishing domain events and upserting operators."""
