import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "otpsite" / "api" / "manage"


def test_the_checked_in_module_is_what_make_proto_generates(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PACKAGE}",
            f"--python_out={tmp_path}",
            str(PACKAGE / "manage.proto"),
        ],
        check=True,
    )
    assert (tmp_path / "manage_pb2.py").read_text() == (PACKAGE / "manage_pb2.py").read_text()
