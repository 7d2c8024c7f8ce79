from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_live_delivery')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PushTarget',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery', fields.ForeignKeyField('models.Delivery', source_field='delivery_id', db_constraint=True, to_field='id', related_name='push_targets', on_delete=OnDelete.CASCADE)),
                ('subscription_id', fields.IntField()),
                ('push_service', fields.CharField(description="The push service's host (never the endpoint's path: it is the subscription's bearer token).", max_length=255)),
                ('status', fields.CharField(max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'nc_push_target', 'app': 'models', 'unique_together': (('delivery_id', 'subscription_id'),), 'pk_attr': 'id', 'table_description': "One browser push subscription's outcome within a BROWSER delivery."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='BotChannelConfig',
            name='webhook_secret_sealed',
            field=fields.TextField(null=True, description="Telegram's webhook secret_token, sealed like the secret and as write-only (never returned).", unique=False),
        ),
    ]
