"""Storage (tortoise-orm models) and the notification catalog."""

#: Modules tortoise-orm loads for the ``models`` app.
MODEL_MODULES = ["models.instance", "models.operator", "models.notification", "models.audit"]
