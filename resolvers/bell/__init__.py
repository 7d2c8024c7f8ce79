"""The bell: the viewer's notification history, read marks, and the live bell, toasts and reminders."""
