"""Deliveries: what each channel did with a notification, and each browser push within one."""
