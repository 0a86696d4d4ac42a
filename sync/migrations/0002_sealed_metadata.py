"""Item and version names, content types and content hashes move from plaintext columns
into one sealed value per row (`meta`), under each user's data key."""

import json

from django.db import migrations, models

from sync import crypto, keys


def _aad(user_id, item_id, what) -> bytes:
    # As sync.models.item_meta_aad / version_meta_aad.
    return f"cloudsaves/meta/v1/{user_id}/{item_id}/{what}".encode()


def _seal(key: bytes, name: str, content_type: str, sha256: str, aad: bytes) -> bytes:
    plain = json.dumps({"n": name, "t": content_type, "h": sha256}, ensure_ascii=False)
    return crypto.seal(key, plain.encode(), aad)


def seal_existing(apps, schema_editor):
    DataKey = apps.get_model("sync", "DataKey")
    Item = apps.get_model("sync", "Item")
    Version = apps.get_model("sync", "Version")
    for data_key in DataKey.objects.all().iterator():
        key = keys.unwrap(data_key.user_id, data_key.wrapped)
        items = Item.objects.filter(user_id=data_key.user_id)
        for item in items.only("pk_id", "item_id", "name", "content_type", "sha256").iterator():
            item.meta = _seal(
                key, item.name, item.content_type, item.sha256, _aad(item.user_id, item.item_id, "item")
            )
            item.save(update_fields=["meta"])
        versions = Version.objects.filter(item__user_id=data_key.user_id).select_related("item")
        for version in versions.defer("sealed").iterator():
            aad = _aad(data_key.user_id, version.item.item_id, version.id)
            version.meta = _seal(key, version.name, version.content_type, version.sha256, aad)
            version.save(update_fields=["meta"])


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="meta",
            field=models.BinaryField(default=b"", editable=False),
        ),
        migrations.AddField(
            model_name="version",
            name="meta",
            field=models.BinaryField(default=b"", editable=False),
        ),
        migrations.RunPython(seal_existing, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(model_name="item", name="content_type"),
        migrations.RemoveField(model_name="item", name="name"),
        migrations.RemoveField(model_name="item", name="sha256"),
        migrations.RemoveField(model_name="version", name="content_type"),
        migrations.RemoveField(model_name="version", name="name"),
        migrations.RemoveField(model_name="version", name="sha256"),
    ]
