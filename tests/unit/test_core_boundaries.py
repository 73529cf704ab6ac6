import subprocess
import sys

from tests.conftest import ROOT


def test_core_never_imports_streamlit():
    """core/ must run from a notebook or CLI without a Streamlit runtime."""
    modules = sorted(p.stem for p in (ROOT / "core").glob("*.py") if p.stem != "__init__")
    code = ("import sys\n" + "".join(f"import core.{m}\n" for m in modules)
            + "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
