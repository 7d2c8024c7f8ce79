from tortoise import migrations
from tortoise.migrations import operations as ops
from json import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_telegram_sent')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ChannelSwitch',
            name='escalate_after_minutes',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='ChannelSwitch',
            name='routing_mode',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='Delivery',
            name='digest_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='Delivery',
            name='route',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['digest_id']),
        ),
        ops.AddIndex(
            model_name='Delivery',
            index=Index(fields=['operator_id', 'route', 'status']),
        ),
        ops.AddField(
            model_name='Instance',
            name='digest_window_seconds',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Instance',
            name='mandatory_bypass_routing',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Instance',
            name='routing',
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='Operator',
            name='timezone',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Operator',
            name='working_hours',
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='TypePolicy',
            name='always_on',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='TypePolicy',
            name='digest_window_seconds',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='TypePolicy',
            name='routing',
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
    ]
