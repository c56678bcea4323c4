"""The few ONNX messages our step graphs need, written straight to protobuf bytes.

`ml_core.models.onnx_stepper` hands ONNX Runtime a serialized `ModelProto`. The `onnx`
package could write it, but importing it takes ~1.5-1.9 s (it loads its whole reference
implementation), which the first Continue of a session would wait for; these ~60 lines
write the same bytes. Field numbers are those of onnx.proto (IR version 8, opset 17):
ModelProto {ir_version 1, opset_import 8, graph 7}; OperatorSetIdProto {domain 1,
version 2}; GraphProto {node 1, name 2, initializer 5, input 11, output 12}; NodeProto
{input 1, output 2, op_type 4, attribute 5, domain 7}; AttributeProto {name 1, f 2, i 3,
type 20}; TensorProto {dims 1, data_type 2, name 8, raw_data 9}; ValueInfoProto {name 1,
type 2}; TypeProto {tensor_type 1}; TypeProto.Tensor {elem_type 1, shape 2};
TensorShapeProto {dim 1}; Dimension {dim_value 1, dim_param 2}.
"""

from __future__ import annotations

import struct

import numpy as np

IR_VERSION = 8
FLOAT = 1                                   # TensorProto.DataType
_DATA_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.uint8): 2, np.dtype(np.int8): 3,
               np.dtype(np.int64): 7}
_ATTRIBUTE_FLOAT, _ATTRIBUTE_INT = 1, 2     # AttributeProto.AttributeType


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1                  # negative int64s as two's complement
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _integer(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _message(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _text(field: int, text: str) -> bytes:
    return _message(field, text.encode())


def tensor(name: str, array: np.ndarray) -> bytes:
    """An initializer: the array's shape, type and little-endian bytes."""
    array = np.ascontiguousarray(array)
    data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return b"".join([*(_integer(1, size) for size in array.shape),
                     _integer(2, _DATA_TYPES[array.dtype]), _text(8, name), _message(9, data)])


def node(op_type: str, inputs: list[str], outputs: list[str], domain: str = "",
         **attributes: int | float) -> bytes:
    """One operator; "" stands for an optional input left out."""
    parts = [*(_text(1, name) for name in inputs), *(_text(2, name) for name in outputs),
             _text(4, op_type)]
    for name, value in attributes.items():
        if isinstance(value, float):
            body = _integer(20, _ATTRIBUTE_FLOAT) + _varint(2 << 3 | 5) + struct.pack("<f", value)
        else:
            body = _integer(20, _ATTRIBUTE_INT) + _integer(3, value)
        parts.append(_message(5, _text(1, name) + body))
    if domain:
        parts.append(_text(7, domain))
    return b"".join(parts)


def float_value(name: str, dims: list[int | str] | None) -> bytes:
    """A float32 graph input or output; each dim a size or a symbolic name (None: any shape)."""
    tensor_type = _integer(1, FLOAT)
    if dims is not None:
        shape = b"".join(_message(1, _integer(1, d) if isinstance(d, int) else _text(2, d))
                         for d in dims)
        tensor_type += _message(2, shape)
    return _text(1, name) + _message(2, _message(1, tensor_type))


def model(name: str, nodes: list[bytes], initializers: list[bytes], inputs: list[bytes],
          outputs: list[bytes], opsets: dict[str, int]) -> bytes:
    """A serialized ModelProto of one graph."""
    graph = b"".join([*(_message(1, item) for item in nodes), _text(2, name),
                      *(_message(5, item) for item in initializers),
                      *(_message(11, item) for item in inputs),
                      *(_message(12, item) for item in outputs)])
    imports = [_message(8, _text(1, domain) + _integer(2, version))
               for domain, version in opsets.items()]
    return b"".join([_integer(1, IR_VERSION), *imports, _message(7, graph)])
