from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_inbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TelegramSent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instance_id', fields.CharField(max_length=64)),
                ('operator', fields.ForeignKeyField('models.Operator', source_field='operator_id', db_constraint=True, to_field='id', related_name='telegram_sent', on_delete=OnDelete.CASCADE)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='telegram_sent', on_delete=OnDelete.CASCADE)),
                ('chat_id', fields.CharField(max_length=200)),
                ('message_id', fields.BigIntField()),
                ('edit_due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'nc_telegram_sent', 'app': 'models', 'indexes': [Index(fields=['notification_id']), Index(fields=['edit_due_at'])], 'pk_attr': 'id', 'table_description': 'A Telegram message a delivery sent, kept while its bot edits messages of handled notifications'},
            bases=['Model'],
        ),
    ]
