"""Install edged: ``pip install -e .[dev]`` for development, ``pip install .[opencv]`` elsewhere.

OpenCV is an extra on purpose: on a Jetson, JetPack's GStreamer-enabled OpenCV
must not be shadowed by pip's wheel.
"""

from pathlib import Path

from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent
VERSION = {}
exec((HERE / "edged" / "__init__.py").read_text(), VERSION)

# The compiled trt_pose parse. Optional: without a C compiler or Python's headers the build
# only warns, and edged uses its numpy parse (same results, slower). -ffp-contract=off keeps
# the compiler from fusing multiply-adds (GCC does by default on aarch64), which would change
# the last bit of scores relative to the numpy parse.
POSE_PARSE = Extension(
    "edged.pipelines.pose._parse",
    sources=["edged/pipelines/pose/_parse.c"],
    extra_compile_args=["-O3", "-ffp-contract=off", "-fno-strict-aliasing"],
    optional=True,
)

setup(
    name="edged",
    version=VERSION["__version__"],
    description="Edge-AI appliance daemon for NVIDIA Jetson: cameras -> pose/gauge models -> MQTT",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.8",
    # the status page's files are a data-only package of their own: named here, setuptools
    # ships them without warning that it "would be ignored"
    packages=[*find_packages(include=["edged", "edged.*"]), "edged.http.static"],
    ext_modules=[POSE_PARSE],
    include_package_data=True,
    package_data={"edged.http": ["README.md"], "edged.http.static": ["*"]},
    # the gauge and display models edged trained itself, so `edged demo` works from a wheel too
    data_files=[
        (
            "share/edged/weights",
            [
                "weights/gauge_kp_w32.onnx",
                "weights/README.gauge.md",
                "weights/gauge_pointer.onnx",
                "weights/README.gauge-pointer.md",
                "weights/gauge_panel_pointer.onnx",
                "weights/README.gauge-panel.md",
                "weights/gauge_direction.onnx",
                "weights/README.gauge-direction.md",
                "weights/display_crnn.onnx",
                "weights/README.display.md",
            ],
        )
    ],
    install_requires=[
        "numpy>=1.19",
        "pydantic>=2.5,<3",
        "typing_extensions>=4.6",
        "PyYAML>=5.3",
        # round-trip edits of the config file (API changes keep its comments);
        # pip picks 0.18.16 on Python 3.8 (0.18.17 needs 3.9)
        "ruamel.yaml>=0.17.21,<0.19",
        "paho-mqtt>=2.0,<3",
        "aiohttp>=3.9",
        "prometheus-client>=0.12",
        "onnxruntime>=1.10",
    ],
    extras_require={
        "opencv": ["opencv-python-headless>=4.5.5"],
        # jetcam is not on PyPI: pip install git+https://github.com/NVIDIA-AI-IOT/jetcam
        "jetson": ["pycuda"],
        "export": ["torch>=1.10", "onnx>=1.12"],
        # backend: triton (NVIDIA's client, gRPC and HTTP); `edged export triton-repo`: onnx
        # reads the graph, tritonclient's protobuf writes the config
        "triton": ["onnx>=1.12", "tritonclient[grpc,http]>=2.40"],
        # `edged demo` embeds this broker where no mosquitto is installed
        "demo": ["amqtt>=0.11,<0.13; python_version >= '3.10'"],
        "dev": [
            "opencv-python-headless>=4.5.5",
            "onnx>=1.12",
            "tritonclient[grpc,http]>=2.40",
            "amqtt>=0.11,<0.13; python_version >= '3.10'",
            "pytest>=7",
            "pytest-asyncio>=0.23",
            "pytest-aiohttp>=1.0",
            "pytest-timeout>=2.1",
            "jsonschema>=4",
            "selenium>=4.10",
            "nbclient>=0.7",
            "nbformat>=5",
            "ipykernel>=6",
            "ipywidgets>=8",
            "ruff>=0.6",
            "vermin>=1.6",
        ],
    },
    entry_points={"console_scripts": ["edged = edged.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.8",
        "Operating System :: POSIX :: Linux",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
