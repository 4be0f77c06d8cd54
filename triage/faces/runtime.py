"""onnxruntime sessions for the graphs `triage` writes itself (the int8 scan, dlib's network): quiet,
on a chosen number of threads, on the CPU."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy.typing as npt


class NodeArg(Protocol):
    """A session's input or output: its name, and its shape (a size, a named size or None per axis)."""

    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> list[int | str | None]: ...


class Session(Protocol):
    """What this package uses of an onnxruntime InferenceSession (onnxruntime ships no type information)."""

    def run(
        self, output_names: Sequence[str] | None, input_feed: Mapping[str, npt.NDArray[Any]]
    ) -> list[npt.NDArray[Any]]: ...

    def get_inputs(self) -> list[NodeArg]: ...

    def get_outputs(self) -> list[NodeArg]: ...


def session(model: bytes, threads: int) -> Session:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the library's warnings would go to the terminal
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Threads that spin between runs stall the other core's work (a capture batch's second worker).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    loaded: Session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return loaded
