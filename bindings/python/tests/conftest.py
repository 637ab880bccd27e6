import os
import sys

# Test the checkout's package (usable in place) unless DFM_TEST_INSTALLED=1 asks for the installed one.
if not os.environ.get("DFM_TEST_INSTALLED"):
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.dirname(__file__))
