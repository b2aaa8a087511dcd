"""The wheel holds a native library (libmeltap.so): mark it as platform-specific (py3-none-<platform>)."""

from setuptools import setup
try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools before 70.1
    from wheel.bdist_wheel import bdist_wheel
from setuptools.dist import Distribution


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform  # ctypes: any Python 3, no ABI


setup(distclass=BinaryDistribution, cmdclass={"bdist_wheel": PlatformWheel})
