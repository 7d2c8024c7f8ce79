from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_audit_log')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BellSnooze',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instance_id', fields.CharField(max_length=64)),
                ('operator', fields.ForeignKeyField('models.Operator', source_field='operator_id', db_constraint=True, to_field='id', related_name='bell_snoozes', on_delete=OnDelete.CASCADE)),
                ('notification', fields.OneToOneField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='bell_snooze', on_delete=OnDelete.CASCADE)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'nc_bell_snooze', 'app': 'models', 'indexes': [Index(fields=['due_at'])], 'pk_attr': 'id', 'table_description': "A snoozed notification's return: due at the snooze's end, claimed with a lease by"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Notification',
            name='archived_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Notification',
            name='snoozed_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
