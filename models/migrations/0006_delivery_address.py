from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_delivery_claim_index')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Delivery',
            name='address',
            field=fields.CharField(null=True, description='Where a bot channel delivers (the linked chat), as publishing found it: the job carries it', max_length=200),
        ),
    ]
