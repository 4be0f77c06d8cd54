"""onnxruntime sessions for the graphs `triage` writes itself (the int8 scan, dlib's network): quiet,
on a chosen number of threads, on the CPU."""

from __future__ import annotations


def session(model: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the library's warnings would go to the terminal
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Threads that spin between runs stall the other core's work (a capture batch's second worker).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
