"""The "moderators" group: may read reports and decide on their free text, nothing more.

"change_report" is what lets a moderator approve or reject text through the admin actions;
the admin itself lets nobody edit a report's fields.
"""

from django.db import migrations

GROUP = "moderators"
PERMISSIONS = (
    ("report", "view_report"),
    ("report", "change_report"),
    ("moderationdecision", "view_moderationdecision"),
)


def create_moderators_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally made by post_migrate, after every migration has run, so on
    # a fresh database (the tests' included) they do not exist yet: make this app's now.
    app_config = apps.get_app_config("reports")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None

    ContentType = apps.get_model("contenttypes", "ContentType")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias

    group, _ = Group.objects.using(db).get_or_create(name=GROUP)
    for model, codename in PERMISSIONS:
        content_type = ContentType.objects.db_manager(db).get_by_natural_key("reports", model)
        group.permissions.add(
            Permission.objects.using(db).get(content_type=content_type, codename=codename)
        )


def delete_moderators_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_moderators_group, delete_moderators_group),
    ]
