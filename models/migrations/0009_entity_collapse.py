from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_panel_hand_off')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Instance',
            name='read_on_entity_close',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Notification',
            name='alerted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Notification',
            name='count',
            field=fields.IntField(default=1, db_default=1),
        ),
        ops.AddField(
            model_name='Notification',
            name='updated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['entity_id', 'operator_id', 'read_at']),
        ),
        ops.AddField(
            model_name='TypePolicy',
            name='collapse',
            field=fields.BooleanField(null=True),
        ),
    ]
