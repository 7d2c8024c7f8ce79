from tortoise import migrations
from tortoise.migrations import operations as ops
from core.jsonenc import dumps
from json import loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_delivery_log_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('instance_id', fields.CharField(max_length=64)),
                ('actor', fields.CharField(description="The caller's user id (the token's sub) and role.", max_length=128)),
                ('actor_role', fields.CharField(max_length=16)),
                ('client', fields.CharField(null=True, description="The client's name (X-NC-Client) or, without one, its User-Agent (None over WebSocket).", max_length=200)),
                ('action', fields.CharField(description="The mutation's GraphQL name (updateInstanceSettings, setTypeChannels ...).", max_length=64)),
                ('subject', fields.CharField(description='What it changed: "instance", "type:<code>", "operator:<user id>", "deliveries".', max_length=200)),
                ('before', fields.JSONField(default=dict, encoder=dumps, decoder=loads)),
                ('after', fields.JSONField(default=dict, encoder=dumps, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'nc_audit_entry', 'app': 'models', 'indexes': [Index(fields=['instance_id', 'id']), Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': 'One mutation that changed (or tried to change, with nothing different) settings: written in'},
            bases=['Model'],
        ),
    ]
