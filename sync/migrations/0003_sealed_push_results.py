"""The push ledger's stored results are sealed (they name the item), and its request
hashes are keyed by each user's data key (a plain hash of a change confirms a guess)."""

import json

from django.db import migrations, models

from sync import crypto, keys


def seal_existing(apps, schema_editor):
    DataKey = apps.get_model("sync", "DataKey")
    PushRecord = apps.get_model("sync", "PushRecord")
    for data_key in DataKey.objects.all().iterator():
        key = keys.unwrap(data_key.user_id, data_key.wrapped)
        records = PushRecord.objects.filter(device__user_id=data_key.user_id)
        for record in records.iterator():
            # As keys.seal_push_result and keys.keyed_hash.
            aad = f"cloudsaves/push-result/v1/{data_key.user_id}/{record.device_id}/{record.change_id}"
            plain = json.dumps(record.result, ensure_ascii=False, separators=(",", ":"))
            record.sealed_result = crypto.seal(key, plain.encode(), aad.encode())
            record.request_hash = keys.keyed_hash(key, record.request_hash)
            record.save(update_fields=["sealed_result", "request_hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0002_sealed_metadata"),
    ]

    operations = [
        migrations.AddField(
            model_name="pushrecord",
            name="sealed_result",
            field=models.BinaryField(default=b""),
            preserve_default=False,
        ),
        migrations.RunPython(seal_existing, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(model_name="pushrecord", name="result"),
    ]
