from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_delivery_address')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BellUnread',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('operator', fields.OneToOneField('models.Operator', source_field='operator_id', db_constraint=True, to_field='id', related_name='bell_unread', on_delete=OnDelete.CASCADE)),
                ('unread', fields.IntField(default=0)),
            ],
            options={'table': 'nc_bell_unread', 'app': 'models', 'pk_attr': 'id', 'table_description': "An operator's unread bell items, kept by every write that changes them, in its transaction:"},
            bases=['Model'],
        ),
        # From here on every write keeps the counts: start them from the rows as they stand.
        ops.RunSQL(
            'INSERT INTO "nc_bell_unread" ("operator_id", "unread") '
            'SELECT "operator_id", COUNT(*) FROM "nc_notification" '
            'WHERE "in_bell" AND "read_at" IS NULL GROUP BY "operator_id"',
            reverse_sql='DELETE FROM "nc_bell_unread"',
        ),
    ]
