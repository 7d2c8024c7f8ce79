from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_notification_melody')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='Delivery',
            name=None,
            fields=['status', 'next_attempt_at'],
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['status', 'channel', 'next_attempt_at']),
        ),
    ]
