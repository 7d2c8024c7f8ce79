"""Instance administration: instance-wide settings, type policies and bot channels (ADMINISTRATOR only)."""
