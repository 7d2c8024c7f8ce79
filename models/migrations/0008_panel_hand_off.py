from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_bell_unread')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PanelHandOff',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instance_id', fields.CharField(max_length=64)),
                ('notification_ids', fields.TextField(description="The notifications' ids, comma-separated, ascending.", unique=False)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(description="The publishing call's time: its notifications' ``created_at``.", auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'nc_panel_hand_off', 'app': 'models', 'indexes': [Index(fields=['due_at']), Index(fields=['instance_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'The panel messages (bell, banner, sound) of one publishing call, until the publisher has'},
            bases=['Model'],
        ),
    ]
