"""Device names move from a plaintext column into a sealed one, under each user's data
key (created here for a user who has devices but has stored nothing yet)."""

from django.db import migrations, models

from sync import crypto, keys


def seal_existing(apps, schema_editor):
    Device = apps.get_model("accounts", "Device")
    DataKey = apps.get_model("sync", "DataKey")
    opened: dict[int, bytes] = {}
    for device in Device.objects.all().iterator():
        key = opened.get(device.user_id)
        if key is None:
            row = DataKey.objects.filter(user_id=device.user_id).first()
            if row is not None:
                key = keys.unwrap(device.user_id, row.wrapped)
            else:
                key = crypto.new_data_key()
                wrapped = keys.keyring().wrap(key, owner=f"user:{device.user_id}")
                DataKey.objects.create(user_id=device.user_id, wrapped=wrapped)
            opened[device.user_id] = key
        # As accounts.models.Device.name_aad.
        aad = f"cloudsaves/device-name/v1/{device.user_id}/{device.id}".encode()
        device.sealed_name = crypto.seal(key, device.name.encode(), aad)
        device.save(update_fields=["sealed_name"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_auditevent"),
        ("sync", "0003_sealed_push_results"),
    ]

    operations = [
        migrations.AddField(
            model_name="device",
            name="sealed_name",
            field=models.BinaryField(default=b"", editable=False),
        ),
        migrations.RunPython(seal_existing, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(model_name="device", name="name"),
    ]
