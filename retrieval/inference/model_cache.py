"""The model cache: ONNX files built once per model from its local weights, checked by sha256 on every load.

Layout: `<cache>/<kind>-<first 16 hex of the source weights' sha256>/` holds per variant a graph and
its weights (`fp32.onnx` + `fp32.weights`, `int8.onnx` + `int8.weights`) and `build.json` (the source's
sha256, each file's sha256, the variants that could not be built and why, and per CPU the measured speed
of each variant and the one chosen). A file whose sha256 differs from build.json's is rebuilt
(inference/export.py: numpy and onnx, no torch); building never downloads anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from retrieval.errors import ModelError

# What reports progress to a person (the door passes one that writes to stderr): building takes ~20 s.
Notice = Callable[[str], None]
BUILD_FILE = "build.json"
# 2: the files are saved optimized (onnx_export.optimize) and loaded without optimizing again.
# 3: each variant's weights in a file of their own beside its graph (export.weights_file).
BUILD_FORMAT = 3
VARIANTS = ("fp32", "int8")
# Why a variant is missing from a build (onnxruntime without its quantizer builds fp32 alone).
NO_QUANTIZER = "this onnxruntime has no quantizer (onnxruntime.quantization cannot be imported)"
# A variant is correct when every probe sentence's vector keeps at least this cosine to fp32's (issue 14's
# parity bar; the per-channel int8 encoder measured 0.984 at worst, 0.992 on average, on SciFact sentences).
MIN_COSINE = 0.98

# Probe sentences for choosing a variant: ordinary prose of the lengths citebot embeds (questions, sentences,
# passages), written for this purpose; what matters is their length mix, not their content.
PROBE = [
    "What did the committee decide about the budget?",
    "Who is responsible for the release?",
    "When does the office open on public holidays?",
    "The quarterly report was delayed because two teams changed their figures at the last minute.",
    "Payments above the limit need a second signature from the finance department before they are sent.",
    "The museum reopened in March after a two-year renovation that restored the original glass roof.",
    "Most of the river's water comes from snow that melts in the mountains during late spring.",
    "Engineers replaced the old pumps, which had failed three times during the winter storms.",
    "Members of staff who work from home must lock their screens whenever they leave the desk, and report "
    "a lost laptop to the service desk within one hour, even when the device is encrypted.",
    "The agreement was signed by both parties in the presence of witnesses, but it did not take effect until "
    "the parliament ratified it two years later, after a long debate about fishing rights.",
    "In the first half of the century the town grew quickly around its harbour; shipbuilding employed one "
    "worker in four, and the railway that opened in 1852 carried coal from the valleys to the quays. When "
    "the yards closed, the harbour was turned into a marina and the warehouses into flats and offices.",
    "Volunteers counted the birds on the island every morning for six weeks and found that the colony had "
    "doubled since the last survey, which the researchers credit to the removal of rats ten years earlier.",
]


def default_model_cache(cache_home: Path | None = None) -> Path:
    """Where built ONNX files live unless a setting says otherwise: citebot/ in the user's cache folder."""
    return (cache_home or Path.home() / ".cache") / "citebot"


def file_sha256(path: Path) -> str:
    """The file's sha256 in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cpu_key() -> str:
    """This CPU's model name and the vector extensions that decide how fast int8 runs on it."""
    name, flags = "unknown CPU", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name == "unknown CPU":
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    extensions = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return " ".join([name, *extensions])


class ModelCache:
    """One cache folder of built ONNX files, shared by every process and store on the machine."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser()

    def source_sha256(self, weights: Path) -> str:
        """The sha256 of a weights file, remembered by path, size and mtime (hashing 90 MB costs ~0.1 s)."""
        try:
            stat = weights.stat()
        except OSError as exc:
            raise ModelError(f"Cannot read {weights}: {exc.strerror or exc}") from exc
        memo_file = self.root / "sources.json"
        key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        memo = _read_json(memo_file) or {}
        known = memo.get(key)
        if isinstance(known, str):
            return known
        try:
            digest = file_sha256(weights)
        except OSError as exc:
            raise ModelError(f"Cannot read {weights}: {exc.strerror or exc}") from exc
        memo[key] = digest
        # A cache that cannot be written only costs the hash next time.
        with suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
            _write_json(memo_file, memo)
        return digest

    def folder(self, kind: str, source_sha: str) -> Path:
        """Where the files built from one source live."""
        return self.root / f"{kind}-{source_sha[:16]}"

    @contextmanager
    def _building(self) -> Iterator[None]:
        """One builder at a time on this machine (another process waits, then finds the files built)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = (self.root / ".lock").open("a")
        except OSError as exc:
            raise ModelError(f"Cannot write the model cache {self.root}: {exc.strerror or exc}") from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def built(
        self,
        kind: str,
        source_sha: str,
        variants: tuple[str, ...],
        build: Callable[[Path], list[str]],
        verify: str,
        notice: Notice | None = None,
        check: Callable[[], None] | None = None,
    ) -> tuple[Path, dict[str, Any]]:
        """The folder holding every variant (the one about to be loaded checked by sha256); built if not.

        build writes the files into the folder and returns the variants it built: a variant it could not
        build (int8 where onnxruntime lacks its quantizer) is named in build.json's "unbuilt" with why.
        check, run before building starts (and its notice), raises the ModelError that damaged weights are.
        """
        folder = self.folder(kind, source_sha)
        record = self._checked(folder, source_sha, variants, verify)
        if record is not None:
            return folder, record
        with self._building():
            record = self._checked(folder, source_sha, variants, verify)
            if record is not None:
                return folder, record
            if check:
                check()
            if notice:
                notice(f"Building the {kind}'s ONNX files in {folder} (once per model and machine)…")
            began = time.perf_counter()
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / BUILD_FILE).unlink(missing_ok=True)
                made = build(folder)
                files = {v: file_sha256(folder / f"{v}.onnx") for v in variants if v in made}
                weights = {v: self.source_sha256(weights_file(folder / f"{v}.onnx")) for v in files}
            except OSError as exc:
                raise ModelError(
                    f"Cannot build the {kind}'s ONNX files in {folder}: {exc.strerror or exc}"
                ) from None
            unbuilt = {v: NO_QUANTIZER for v in variants if v not in made}
            if notice and unbuilt:
                notice(f"Built fp32 only: {NO_QUANTIZER}; the {kind} runs fp32")
            record = {
                "format": BUILD_FORMAT,
                "kind": kind,
                "source_sha256": source_sha,
                "files": files,
                "weights": weights,
                "unbuilt": unbuilt,
                "build_seconds": round(time.perf_counter() - began, 1),
                "speed": {},
            }
            self.save(folder, record)
            return folder, record

    def save(self, folder: Path, record: dict[str, Any]) -> None:
        """Write build.json (atomically)."""
        try:
            _write_json(folder / BUILD_FILE, record)
        except OSError as exc:
            raise ModelError(f"Cannot write {folder / BUILD_FILE}: {exc.strerror or exc}") from exc

    def _checked(
        self, folder: Path, source_sha: str, variants: tuple[str, ...], verify: str
    ) -> dict[str, Any] | None:
        """build.json if it names the source and every file is there, and `verify`'s matches its sha256."""
        # Only the variant about to be loaded is checked ("" checks none).
        record = _read_json(folder / BUILD_FILE)
        if not isinstance(record, dict) or record.get("format") != BUILD_FORMAT:
            return None
        if record.get("source_sha256") != source_sha:
            return None
        files, weights = record.get("files"), record.get("weights")
        if not isinstance(files, dict) or not isinstance(weights, dict):
            return None
        unbuilt = record.get("unbuilt") or {}
        if not isinstance(unbuilt, dict) or (unbuilt and quantizer_available()):
            return None  # built where onnxruntime had no quantizer, and now it has: build int8 too
        for variant in variants:
            if variant in unbuilt:
                continue
            path = folder / f"{variant}.onnx"
            try:
                if not path.is_file() or not weights_file(path).is_file():
                    return None
                # The graph (~50 KB) is hashed on every load; its weights by path, size and mtime, as a
                # source is (a write to them changes the mtime, so a damaged file is still hashed and found).
                if variant == verify and (
                    files.get(variant) != file_sha256(path)
                    or weights.get(variant) != self.source_sha256(weights_file(path))
                ):
                    return None
            except (OSError, ModelError):
                return None
        return record


def weights_file(graph: Path) -> Path:
    """The file beside an optimized graph that holds its weights (fp32.onnx -> fp32.weights)."""
    return graph.with_suffix(".weights")


def built_variants(record: dict[str, Any]) -> list[str]:
    """The variants a build record's folder holds, in VARIANTS order."""
    files = record.get("files") or {}
    return [v for v in VARIANTS if v in files]


def quantizer_available() -> bool:
    """Whether onnxruntime's quantizer can be imported here (a minimal onnxruntime lacks it)."""
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError:
        return False
    return True


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: Any) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)
