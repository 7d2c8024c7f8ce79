"""The viewer's own settings: the types tab, the channels tab, system messages, reminders, classic settings."""
