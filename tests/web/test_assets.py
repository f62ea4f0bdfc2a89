"""The committed staff-page CSS and JS are exactly what the locked npm build produces, and
the CSS carries nothing a non-GOV.UK service must not use (GDS Transport, the crown/crest).

The build needs Node.js and `npm ci` (as .ci/run does); without them the rebuild test is
skipped and the checks on the committed files still run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "services" / "ingest" / "web" / "static"
BUILD_SCRIPT = ROOT / "scripts" / "build-assets.mjs"
BUILT_FILES = ("beacon.css", "govuk-frontend.min.js")


def _locked_version(package: str) -> str:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    return lock["packages"][f"node_modules/{package}"]["version"]


def _installed_version(package: str) -> str | None:
    manifest = ROOT / "node_modules" / package / "package.json"
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text())["version"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the asset build needs Node.js and `npm ci`)")
    for package in ("govuk-frontend", "sass"):
        installed = _installed_version(package)
        if installed is None:
            pytest.skip(f"node_modules/{package} is missing: run `npm ci`")
        assert installed == _locked_version(package), (
            f"node_modules has {package} {installed}, package-lock.json pins "
            f"{_locked_version(package)}: run `npm ci`"
        )
    out = tmp_path_factory.mktemp("assets")
    subprocess.run(
        [node, str(BUILD_SCRIPT), "--out-dir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out


@pytest.mark.parametrize("name", BUILT_FILES)
def test_committed_asset_matches_a_fresh_build(built: Path, name: str) -> None:
    fresh = (built / name).read_bytes()
    committed = (STATIC / name).read_bytes()
    assert fresh == committed, (
        f"services/ingest/web/static/{name} is not what the build produces: "
        "run `npm ci && npm run build:css` and commit the result"
    )


def _committed_css() -> str:
    return (STATIC / "beacon.css").read_text(encoding="ascii")


def test_committed_css_has_no_gds_transport_font() -> None:
    css = _committed_css()
    assert "@font-face" not in css
    assert "gds transport" not in css.lower()
    assert not re.search(r"\.woff2?\b", css)
    families = set(re.findall(r"font-family:([^;}]+)", css))
    # govuk-frontend's text (screen and print) and the monospace stack for secrets.
    assert families == {"arial,sans-serif", "sans-serif", 'ui-monospace,"Courier New",monospace'}


def test_committed_css_references_no_crest_crown_or_other_asset() -> None:
    css = _committed_css()
    assert "govuk-crest" not in css
    assert "/assets/images/" not in css
    # No url() at all: govuk-frontend's image and font URLs resolve to `none`.
    assert not re.search(r"url\s*\(", css, flags=re.IGNORECASE)
    assert "@import" not in css
    assert "sourceMappingURL" not in css


def test_committed_css_defines_the_classes_the_templates_use() -> None:
    css = _committed_css()
    for selector in (
        ".govuk-template__body",
        ".govuk-error-summary",
        ".govuk-summary-list",
        ".beacon-header",
        ".beacon-header__service",
        ".beacon-header__nav",
        ".beacon-header__link:focus",
        ".beacon-header__button:focus",
        ".beacon-blank-screen",
        ".beacon-blanked .beacon-blank-screen",
        ".beacon-body-map",
        ".beacon-body-map__region:focus",
        ".beacon-idle-warning",
        ".beacon-table--stacked",
        ".beacon-qr",
    ):
        assert selector in css, selector
    assert not css.startswith("\ufeff")


def test_committed_js_is_govuk_frontends_es_module() -> None:
    js = (STATIC / "govuk-frontend.min.js").read_text(encoding="utf-8")
    assert f'const version="{_locked_version("govuk-frontend")}"' in js
    assert re.search(r"export\s*\{[^}]*\binitAll\b", js)
    assert "sourceMappingURL" not in js
