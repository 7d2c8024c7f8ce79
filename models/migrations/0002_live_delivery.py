from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OperatorPresence',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instance_id', fields.CharField(max_length=64)),
                ('operator', fields.OneToOneField('models.Operator', source_field='operator_id', db_constraint=True, to_field='id', related_name='presence', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(max_length=32)),
                ('not_ready_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_reminder_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reminders_sent', fields.IntField(default=0)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'nc_operator_presence', 'app': 'models', 'indexes': [Index(fields=['next_reminder_at'])], 'pk_attr': 'id', 'table_description': "An operator's status from operator_status_changed events, and their next not-ready reminder."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ToastRepeat',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instance_id', fields.CharField(max_length=64)),
                ('operator', fields.ForeignKeyField('models.Operator', source_field='operator_id', db_constraint=True, to_field='id', related_name='toast_repeats', on_delete=OnDelete.CASCADE)),
                ('notification', fields.OneToOneField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='toast_repeat', on_delete=OnDelete.CASCADE)),
                ('repeat', fields.IntField(default=1, description="1 for the first repeat, up to the recipient's repeatCount.")),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'nc_toast_repeat', 'app': 'models', 'indexes': [Index(fields=['due_at'])], 'pk_attr': 'id', 'table_description': "The next repeat of a still-unread notification's banner: stored, so a restart keeps it."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Delivery',
            name='locked_by',
            field=fields.CharField(null=True, description='The worker holding the lease, so only it settles the job.', max_length=64),
        ),
    ]
