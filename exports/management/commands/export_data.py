"""`python manage.py export_data --format {csv,odm,xpt,dta,sav,datasetjson,define} --output PATH
--user USERNAME`

Writes the export that user is allowed to have (SPEC §10): blinded unless the user is the
unblinded statistician, restricted to the user's sites. It goes through the same services as
the export center, so it is recorded and audited the same way (with the file's SHA-256).

Output: for `odm` and `define`, PATH is the XML file; for the others PATH is a directory receiving the
files (one per form, the analysis table, the data dictionary) — or, when PATH ends in
`.zip`, the whole bundle as one file.
"""

import shutil
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.models import User
from exports import selectors
from exports.exceptions import ExportError
from exports.models import ExportFormat, ExportStatus
from exports.services import export_request, export_run


class Command(BaseCommand):
    help = "Write an export (blinded unless the user is the statistician) to PATH."

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=[f.value for f in ExportFormat])
        parser.add_argument("--output", required=True, help="File (odm, define, .zip) or directory.")
        parser.add_argument("--user", required=True, help="Username whose rights apply.")
        parser.add_argument("--forms", default="", help="Comma-separated CRF codes (default all).")
        parser.add_argument("--labels", default="en", choices=["en", "zh-hans"],
                            help="Language of variable and value labels (codes stay the same).")
        parser.add_argument("--blinded", action="store_true",
                            help="Force a blinded export even for the statistician.")

    def handle(self, *args, **options):
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"--user: no active user named {options['user']!r}.")
        blinded = options["blinded"] or not selectors.may_export_unblinded(user)
        forms = [f.strip() for f in options["forms"].split(",") if f.strip()]
        try:
            export = export_request(user=user, formats=[options["format"]], blinded=blinded,
                                    forms=forms, dispatch=False, label_language=options["labels"])
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        export = export_run(export_id=export.pk)
        if export is None or export.status != ExportStatus.DONE:
            raise CommandError(f"The export failed: {export.error if export else 'not found'}")
        output = Path(options["output"])
        fmt = options["format"]
        if output.suffix.lower() == ".zip":
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(export.path, output)
        else:
            with zipfile.ZipFile(export.path) as bundle:
                single = {"odm": "odm/angel_rescue.xml", "define": "define/define.xml"}
                if fmt in single:
                    output.parent.mkdir(parents=True, exist_ok=True)
                    with bundle.open(single[fmt]) as src, open(output, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                else:
                    output.mkdir(parents=True, exist_ok=True)
                    for name in bundle.namelist():
                        if name.startswith(f"{fmt}/") or name in ("dictionary.csv", "README.txt"):
                            target = output / Path(name).name
                            with bundle.open(name) as src, open(target, "wb") as dst:
                                shutil.copyfileobj(src, dst, 1 << 20)
        self.stdout.write(
            f"{'Blinded' if export.blinded else 'UNBLINDED'} {fmt} export for {user.username} "
            f"written to {output} (bundle SHA-256 {export.sha256}; rows {export.row_counts.get(fmt)})")
