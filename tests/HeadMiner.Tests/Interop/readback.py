#!/usr/bin/python3
"""Reads HeadMiner's output files back with numpy alone and checks them against expected values (InteropTests).

    readback.py safetensors FILE EXPECTED.json   the file follows the safetensors format rules and holds exactly the
                                                 expected tensors (dtype, shape, every value) and metadata
    readback.py csv FILE EXPECTED.json           numpy.genfromtxt reads the table; columns equal the expected ones

EXPECTED.json: {"tensors": {name: {"dtype": "F32", "shape": [...], "values": [...] }}, "metadata": {...}} or
{"columns": {name: [value or null, ...]}, "float32": [names of float32 columns]}; null stands for NaN (a missing cell), "inf"/"-inf" for ±∞. Floats compare exactly (float32 values
written as shortest round-trip decimals). Exit 0 with one "ok" line, else 1 with what differs.
Debian's python3-numpy is all it needs; when the safetensors package is importable too, safetensors.numpy.load_file
must give the same arrays.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U8": "u1", "BOOL": "?"}


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def parse_safetensors(path):
    """The format, rule by rule: u64 little-endian header size N; N bytes of UTF-8 JSON (an object); optional
    __metadata__ mapping strings to strings; per tensor dtype, shape and data_offsets [begin, end) relative to the
    byte after the header; offsets contiguous from 0 and covering the whole data section; header padded with spaces
    so the data starts 8-byte aligned."""
    data = open(path, "rb").read()
    if len(data) < 8:
        fail(f"{path}: {len(data)} bytes, shorter than the 8-byte header size")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        fail(f"{path}: header size {n} runs past the end ({len(data)} bytes)")
    raw = data[8:8 + n]
    if (8 + n) % 8 != 0:
        fail(f"{path}: data starts at byte {8 + n}, not 8-byte aligned")
    text = raw.decode("utf-8")
    if not text.startswith("{") or not text.rstrip(" ").endswith("}"):
        fail(f"{path}: header is not one JSON object followed by space padding")
    header = json.loads(text)
    metadata = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        fail(f"{path}: __metadata__ holds a value that is not a string")
    body = data[8 + n:]
    spans = []
    arrays = {}
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            fail(f"{path}: tensor {name} has keys {sorted(info)}")
        begin, end = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]])
        count = int(np.prod(info["shape"], dtype=np.int64))
        if end - begin != count * dtype.itemsize:
            fail(f"{path}: tensor {name}: {end - begin} bytes for shape {info['shape']} of {info['dtype']}")
        spans.append((begin, end, name))
        arrays[name] = np.frombuffer(body, dtype=dtype, count=count, offset=begin).reshape(info["shape"])
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            fail(f"{path}: tensor {name} starts at {begin}, expected {position} (gap or overlap)")
        position = end
    if position != len(body):
        fail(f"{path}: tensors cover {position} of {len(body)} data bytes")
    return arrays, metadata


def as_expected(values):
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def same(actual, expected):
    actual = np.asarray(actual, dtype=np.float64).ravel()
    return actual.shape == expected.shape and bool(np.all((actual == expected) | (np.isnan(actual) & np.isnan(expected))))


def check_safetensors(path, expected):
    arrays, metadata = parse_safetensors(path)
    reader = "json header + numpy.frombuffer"
    try:
        from safetensors.numpy import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        reader += " and safetensors.numpy.load_file"
        loaded = load_file(path)
        if sorted(loaded) != sorted(arrays):
            fail(f"{path}: safetensors.numpy.load_file gives {sorted(loaded)}")
        for name, array in loaded.items():
            if not np.array_equal(array, arrays[name], equal_nan=True):
                fail(f"{path}: safetensors.numpy.load_file differs on {name}")
    wanted = expected["tensors"]
    if sorted(arrays) != sorted(wanted):
        fail(f"{path}: tensors {sorted(arrays)}, expected {sorted(wanted)}")
    for name, want in wanted.items():
        array = arrays[name]
        if array.dtype != np.dtype(DTYPES[want["dtype"]]):
            fail(f"{path}: {name} is {array.dtype}, expected {want['dtype']}")
        if list(array.shape) != want["shape"]:
            fail(f"{path}: {name} has shape {list(array.shape)}, expected {want['shape']}")
        if not same(array, as_expected(want["values"])):
            fail(f"{path}: {name} values differ")
    for key, value in expected.get("metadata", {}).items():
        if metadata.get(key) != value:
            fail(f"{path}: metadata {key} is {metadata.get(key)!r}, expected {value!r}")
    print(f"ok: {len(arrays)} tensors, {len(metadata)} metadata entries read by {reader}")


def check_csv(path, expected):
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    columns = expected["columns"]
    float32 = set(expected.get("float32", []))
    if list(table.dtype.names) != list(columns):
        fail(f"{path}: columns {table.dtype.names}, expected {list(columns)}")
    for name, values in columns.items():
        column = np.atleast_1d(table[name])
        if all(isinstance(v, str) for v in values):
            if [str(v) for v in column] != values:
                fail(f"{path}: column {name} differs")
        elif name in float32:
            # A float32 cell is written in its shortest round-trip form (0.3): parse it back as float32.
            if not same(np.asarray(column, dtype=np.float32), as_expected(values)):
                fail(f"{path}: column {name} differs (as float32)")
        elif not same(column, as_expected(values)):
            fail(f"{path}: column {name} differs")
    print(f"ok: {len(columns)} columns of {len(np.atleast_1d(table))} rows read by numpy.genfromtxt")


if __name__ == "__main__":
    kind, path, expected_path = sys.argv[1:4]
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    {"safetensors": check_safetensors, "csv": check_csv}[kind](path, expected)
