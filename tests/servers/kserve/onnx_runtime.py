"""An MLServer runtime that serves one ONNX file with ONNX Runtime: the KServe v2 server the
Triton backend's tests talk to (Triton itself is not installable here).

MLServer loads this module from the model's directory (``implementation:
onnx_runtime.OnnxRuntimeModel`` in ``model-settings.json``); it runs in MLServer's own
environment, not edged's. Model parameters: ``uri`` (the .onnx file), and optionally
``extra.delay_s`` (sleep that long in every call: a slow server for the timeout test).
"""

import asyncio

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse, MetadataTensor
from mlserver.utils import get_model_uri

#: ONNX Runtime type strings -> KServe v2 datatypes
DATATYPES = {
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(uint8)": "UINT8",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
}


def _metadata(args):
    return [
        MetadataTensor(
            name=a.name,
            datatype=DATATYPES[a.type],
            shape=[d if isinstance(d, int) else -1 for d in a.shape],
        )
        for a in args
    ]


class OnnxRuntimeModel(MLModel):
    async def load(self) -> bool:
        uri = await get_model_uri(self._settings)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(uri, options, providers=["CPUExecutionProvider"])
        extra = (self._settings.parameters.extra or {}) if self._settings.parameters else {}
        self._delay_s = float(extra.get("delay_s", 0.0))
        self.inputs = _metadata(self._session.get_inputs())
        self.outputs = _metadata(self._session.get_outputs())
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        names = [o.name for o in self._session.get_outputs()]
        wanted = [o.name for o in payload.outputs] if payload.outputs else names
        values = dict(zip(names, self._session.run(names, feeds)))
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output(n, np.ascontiguousarray(values[n])) for n in wanted],
        )
