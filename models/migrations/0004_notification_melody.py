from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_push_targets')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Notification',
            name='melody',
            field=fields.CharField(null=True, description='The melody resolution chose when SOUND is among the channels (the toast and its repeats', max_length=64),
        ),
    ]
