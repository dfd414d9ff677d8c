"""`python -m ctopen publish FILE --recipe R.json [--portal URL] [--dataset-id ID]
[--mode create|replace|upsert|delete|metadata] [--api dsmapi|soda] [--make-public] [--dry-run] [--bundle PATH] [--json]`

Applies the recipe to FILE, runs the privacy gate and publishes the release: to the portal when credentials
are set (SOCRATA_USERNAME / SOCRATA_PASSWORD or SOCRATA_KEY_ID / SOCRATA_KEY_SECRET, and SOCRATA_APP_TOKEN),
else as a local bundle. Prints {"status", "dataset_id", "url", "rows", "public", "gate": {"passed", "reasons"},
"api", "revision_id", "job"} with status private | public | updated | bundle | dry-run | blocked. A blocked gate
prints that and exits 3. The portal is written to through the Data Management API (revisions, socrata-py) unless
`--api soda` (or $CTOPEN_PUBLISH_API=soda) asks for the legacy writer.

`--to arcgis` publishes a map release (a release with a location: hexagon or area counts from spatial_aggregate,
or points) to the CT Geo Data Portal's ArcGIS Online organisation instead (ctopen.publish.arcgis): a GeoJSON item
and its hosted feature layer, private; `--make-public` shares the layer with everyone and the open-data group
($ARCGIS_GROUP); `--dataset-id ITEM` (the layer's item id) overwrites its data. The portal is `--portal` or
$ARCGIS_URL, the credentials $ARCGIS_USERNAME and $ARCGIS_PASSWORD, or $ARCGIS_API_KEY. The same gate decides.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ctopen import settings
from ctopen.errors import ConfigError


def register(subparsers) -> None:
    p = subparsers.add_parser("publish", help="apply a recipe, check the privacy gate, publish (private) or bundle",
                              description=__doc__.splitlines()[0])
    p.add_argument("file", metavar="FILE", help="the source file (as loaded on the Load page)")
    p.add_argument("--recipe", required=True, metavar="R.json", help="the saved recipe (steps, roles, metadata)")
    p.add_argument("--to", choices=["socrata", "arcgis"], default="socrata",
                   help="socrata: the CT Open Data Portal (the default); arcgis: the CT Geo Data Portal's ArcGIS Online "
                        "organisation, for a map release (a hosted feature layer)")
    p.add_argument("--portal", default=None, metavar="URL",
                   help=f"portal domain or https URL (default: ${settings.SOCRATA_DOMAIN_ENV}, else "
                        f"{settings.DEFAULT_PORTAL}; with --to arcgis: ${settings.ARCGIS_ENV['url']}, e.g. "
                        "https://ORG.maps.arcgis.com; a portal named in the recipe must match it)")
    p.add_argument("--dataset-id", default=None, metavar="ID", help="an existing dataset to update, e.g. abcd-1234 "
                   "(with --to arcgis: the hosted feature layer's item id, 32 letters and digits)")
    p.add_argument("--mode", choices=["create", "replace", "upsert", "delete", "metadata"], default=None,
                   help="create a new dataset (default without --dataset-id), replace its rows (default with it), upsert "
                        "or delete rows by the row identifier (recipe target.row_identifier), or update the metadata only")
    p.add_argument("--api", choices=["dsmapi", "soda"], default=None,
                   help="dsmapi: the Data Management API, revisions (the default); soda: the legacy writer, for a site "
                        "that still needs it (default: $CTOPEN_PUBLISH_API, else dsmapi)")
    p.add_argument("--make-public", action="store_true", help="make the dataset public after it is published")
    p.add_argument("--dry-run", action="store_true", help="apply and check only; send nothing")
    p.add_argument("--bundle", default=None, metavar="PATH", help="write a local bundle (folder or .zip) instead of publishing (the default without "
                   "credentials: FILE-bundle.zip next to FILE)")
    p.add_argument("--sheet", default=None, help="sheet of a workbook")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def read_recipe(path: str) -> dict:
    """The recipe file, read strictly (ctopen.recipe.load: no duplicate keys, no NaN, every step's keys known)."""
    from ctopen import recipe as recipes
    return recipes.load(path)


def _result(status, gate, rows, dataset_id=None, url=None, public=False, **extra) -> dict:
    """The JSON printed: the gate's verdict names the roles it rests on and where each came from; for the
    portal, the writer (api) and, through the Data Management API, the revision and its job's outcome."""
    out = {"status": status, "dataset_id": dataset_id, "url": url, "rows": rows, "public": bool(public),
           "gate": gate.summary()}
    out.update(extra)
    return out


def _text(out: dict) -> str:
    lines = [f"status: {out['status']}"]
    if out.get("dataset_id"):
        lines.append(f"dataset: {out['dataset_id']}  {out.get('url') or ''}".rstrip())
    if out.get("bundle"):
        lines.append(f"bundle: {out['bundle']}")
    lines.append(f"rows: {out['rows']:,}  public: {'yes' if out['public'] else 'no'}")
    if out.get("layer_url"):
        lines.append(f"layer: {out['layer_url']}")
    if out.get("to") == "arcgis" and out.get("dataset_id"):
        lines.append(f"shared: {'everyone and the group ' + repr(out['group']) if out.get('group') else 'with everyone' if out['public'] else 'no one (private)'}")
    if out.get("revision_id") is not None:
        lines.append(f"revision: {out['revision_id']}  job: {out.get('job') or 'unknown'}")
    lines.append(f"privacy gate: {'passed' if out['gate']['passed'] else 'BLOCKED'}")
    lines += [f"  - {r}" for r in out["gate"]["reasons"]]
    return "\n".join(lines)


def run(args) -> int:
    if getattr(args, "to", "socrata") == "arcgis":
        return run_arcgis(args)
    from ctopen.cli import emit
    from ctopen.load import load
    from ctopen.publish import log as plog
    from ctopen.publish import socrata
    from ctopen.publish.bundle import write as write_bundle
    from ctopen.review import Review

    recipe = read_recipe(args.recipe)
    target = recipe.get("target") or {}
    # the monthly update: a recipe saved after publishing names its dataset (target.dataset_id)
    dataset_id = args.dataset_id or (target.get("dataset_id") if args.mode != "create" else None) or None
    saved_mode = target.get("mode") if dataset_id and target.get("mode") in ("replace", "upsert") else None
    mode = args.mode or saved_mode or ("replace" if dataset_id else "create")
    if mode != "create" and not dataset_id:
        raise ConfigError(f"--mode {mode} updates an existing dataset: give its id with --dataset-id.")
    # credentials go only to the portal the person running this names (--portal), or the environment's
    # (SOCRATA_DOMAIN), or the default: never to a host a recipe names (a recipe is a shared file)
    portal = args.portal or os.environ.get(settings.SOCRATA_DOMAIN_ENV) or settings.DEFAULT_PORTAL
    socrata.portal_parts(portal)          # a bad address is a user error before any work
    named = target.get("portal")
    if named and not (args.dry_run or args.bundle):
        socrata.portal_parts(named)
        if not socrata.same_portal(named, portal):
            raise ConfigError(f"The recipe names the portal {named}, but this run publishes to {portal}: credentials "
                              f"are sent only to the portal given with --portal or {settings.SOCRATA_DOMAIN_ENV}. "
                              f"Pass --portal {named} if that is the portal you mean.")
    if dataset_id:
        socrata.check_dataset_id(dataset_id)
    api = None if (args.dry_run or args.bundle) else socrata.resolve_api(args.api, portal)
    if api == "soda" and mode in ("delete", "metadata"):
        raise ConfigError(f"--mode {mode} needs the Data Management API: run it without --api soda.")
    try:
        found = socrata.Credentials.from_env()
    except ConfigError:
        if not (args.dry_run or args.bundle):
            raise
        found = None
    credentials = None if (args.dry_run or args.bundle) else found
    wants_portal = bool(args.portal or dataset_id or args.make_public or args.api
                        or args.mode in ("replace", "upsert", "delete", "metadata"))
    if credentials is None and wants_portal and not (args.dry_run or args.bundle):
        # a scheduled update whose credentials went missing must fail, not quietly write a bundle
        raise ConfigError("No portal credentials: set SOCRATA_USERNAME and SOCRATA_PASSWORD (or SOCRATA_KEY_ID and "
                          "SOCRATA_KEY_SECRET), or pass --bundle PATH to write a local bundle instead.")

    table = load(args.file, sheet=args.sheet)
    # the same Review as the app's: roles decided on the source file (never on the release), the release,
    # the verdict, the report (apply reads the pseudonym key from the environment itself)
    review = Review(table.df, recipe, source=table.source.to_dict())
    verdict = review.gate
    release = review.portal_view.rows     # exactly what is sent: formula-like cells neutralised
    digest = plog.recipe_hash(recipe)
    title = (recipe.get("metadata") or {}).get("title") or Path(args.file).stem
    by = (recipe.get("exception") or {}).get("by") or recipe.get("reviewer") or None
    secrets = found.secrets() if found else []   # never written into a bundle, even when not used

    if not verdict.passed:
        out = _result("blocked", verdict, len(release), dataset_id)
        plog.record(portal=portal, target=dataset_id or title, status="blocked", dataset_id=dataset_id, mode=mode,
                    rows=len(release), public=False, recipe_sha256=digest, by=by, message=" ".join(verdict.reasons))
        emit(out, args.json, _text(out))
        return 3
    if args.dry_run:
        out = _result("dry-run", verdict, len(release), dataset_id)
        emit(out, args.json, _text(out))
        return 0

    if args.bundle or credentials is None:
        path = Path(args.bundle) if args.bundle else Path(args.file).with_name(Path(args.file).stem + "-bundle.zip")
        report = review.report()
        bundle = write_bundle(path, release, review.saved_recipe(), report_html=report, secrets=secrets)
        plog.record(portal="bundle", target=title, status="bundle", mode=mode, rows=len(release), public=False,
                    recipe_sha256=digest, by=by, message=str(bundle.path))
        out = _result("bundle", verdict, len(release), bundle=str(bundle.path))
        emit(out, args.json, _text(out))
        return 0

    progress = _terminal_progress() if sys.stderr.isatty() else None
    try:
        result = socrata.publish_logged(release, recipe, portal, credentials, dataset_id=dataset_id, mode=mode,
                                        make_public=args.make_public, by=by, api=api, progress=progress)
    finally:
        if progress:
            progress.end()
    out = _result(result.status, verdict, result.rows, result.dataset_id, result.url, result.public, api=result.api,
                  revision_id=result.revision_id, job=result.job)
    emit(out, args.json, _text(out))
    return 0


def run_arcgis(args) -> int:
    """`publish --to arcgis`: the same review and gate; the map release (its GeoJSON) to an ArcGIS portal."""
    from ctopen import geo
    from ctopen.cli import emit
    from ctopen.load import load
    from ctopen.publish import arcgis
    from ctopen.publish import log as plog
    from ctopen.publish.bundle import write as write_bundle
    from ctopen.review import Review

    recipe = read_recipe(args.recipe)
    target = recipe.get("target") or {}
    saved = target.get("arcgis") if isinstance(target.get("arcgis"), dict) else {}
    if args.api:
        raise ConfigError("--api chooses how to write to Socrata: it does not apply to --to arcgis.")
    if args.mode not in (None, "create", "replace"):
        raise ConfigError(f"--mode {args.mode} is for the Open Data Portal: with --to arcgis a layer is created "
                          "(--mode create) or its data replaced (--mode replace, with --dataset-id).")
    item_id = args.dataset_id or (saved.get("item_id") if args.mode != "create" else None) or None
    if args.mode == "replace" and not item_id:
        raise ConfigError("--mode replace updates an existing layer: give its item id with --dataset-id.")
    if item_id:
        item_id = arcgis.check_item_id(item_id)
    sending = not (args.dry_run or args.bundle)
    # credentials go only to the portal the person running this names (--portal or ARCGIS_URL): never to a
    # host a recipe names (a recipe is a shared file)
    portal = args.portal or arcgis.setting("url")
    if sending or args.portal:
        arcgis.portal_parts(portal)          # a missing or bad address is a user error before any work
    named = saved.get("portal")
    if named and sending:
        arcgis.portal_parts(named)
        if not arcgis.same_portal(named, portal):
            raise ConfigError(f"The recipe names the ArcGIS portal {named}, but this run publishes to {portal}: "
                              f"credentials are sent only to the portal given with --portal or "
                              f"{settings.ARCGIS_ENV['url']}. Pass --portal {named} if that is the portal you mean.")
    try:
        found = arcgis.Credentials.from_env()
    except ConfigError:
        if sending:
            raise
        found = None
    if sending and found is None:
        # a scheduled update whose credentials went missing must fail, not quietly write a bundle
        raise ConfigError(f"No ArcGIS credentials: set {settings.ARCGIS_ENV['username']} and "
                          f"{settings.ARCGIS_ENV['password']} (or {settings.ARCGIS_ENV['api_key']}), or pass --bundle "
                          "PATH to write a local bundle instead.")

    table = load(args.file, sheet=args.sheet)
    review = Review(table.df, recipe, source=table.source.to_dict())   # the same Review as the app's
    verdict = review.gate
    release = review.portal_view.rows
    digest = plog.recipe_hash(recipe)
    title = (recipe.get("metadata") or {}).get("title") or ""
    by = (recipe.get("exception") or {}).get("by") or recipe.get("reviewer") or None
    host = arcgis.portal_parts(portal)[1] if portal else "arcgis"
    if not verdict.passed:
        out = _result("blocked", verdict, len(release), item_id, to="arcgis")
        plog.record(portal=host, target=item_id or title or Path(args.file).stem, status="blocked",
                    dataset_id=item_id, mode="replace" if item_id else "create", rows=len(release), public=False,
                    recipe_sha256=digest, by=by, api="arcgis", message=" ".join(verdict.reasons))
        emit(out, args.json, _text(out))
        return 3
    if (where := geo.map_location(release, recipe)) is None:
        raise ConfigError("This release has no location to put on a map (no hexagon, town or county counts from a "
                          "spatial_aggregate step, and no points): the Geo Data Portal takes map layers. Publish it to "
                          "the Open Data Portal (--to socrata), or add a spatial_aggregate step.")
    collection = geo.to_geojson(release, where)
    if args.dry_run:
        out = _result("dry-run", verdict, len(release), item_id, to="arcgis", features=len(collection["features"]))
        emit(out, args.json, _text(out))
        return 0
    if args.bundle:
        path = Path(args.bundle)
        bundle = write_bundle(path, release, review.saved_recipe(), report_html=review.report(),
                              secrets=found.secrets() if found else [])
        plog.record(portal="bundle", target=title or Path(args.file).stem, status="bundle", mode="create",
                    rows=len(release), public=False, recipe_sha256=digest, by=by, api="arcgis", message=str(bundle.path))
        out = _result("bundle", verdict, len(release), bundle=str(bundle.path), to="arcgis")
        emit(out, args.json, _text(out))
        return 0
    if not title:
        raise ConfigError("The layer has no title: fill in the title on the Describe page (metadata.title).")
    progress = _terminal_progress() if sys.stderr.isatty() else None
    try:
        result = arcgis.publish_logged(collection, recipe, portal, found, item_id=item_id,
                                       make_public=args.make_public, group=arcgis.setting("group"), by=by,
                                       rows=len(release), progress=progress, columns=list(release.columns))
    finally:
        if progress:
            progress.end()
    out = _result(result.status, verdict, len(release), result.item_id, result.url, result.public, to="arcgis",
                  features=result.features, source_item_id=result.source_item_id, layer_url=result.layer_url,
                  group=result.group, job=result.job)
    emit(out, args.json, _text(out))
    return 0


class _terminal_progress:
    """One progress line on stderr, rewritten in place (only when stderr is a terminal)."""

    def __init__(self):
        self.width = 0

    def __call__(self, share: float, text: str) -> None:
        line = f"{min(max(share, 0.0), 1.0):4.0%}  {text}"[:100]
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = len(line)

    def end(self) -> None:
        if self.width:
            sys.stderr.write("\n")
            sys.stderr.flush()
