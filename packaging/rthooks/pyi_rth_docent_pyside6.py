# PyInstaller's PySide6 run-time hook (PyInstaller/hooks/rthooks/pyi_rth_pyside6.py), made lazy.
#
# The stock hook imports PySide6.QtCore at every start to register an embedded qt.conf, which
# loads Qt and its 30 MB ICU data even for `docent status` or `docent --help` (~0.1 s). Here the
# environment is set up front exactly as before, and the qt.conf step runs right after the first
# `import PySide6.QtCore` instead (the GUI imports it before creating the application).
# docent.spec swaps this in for the stock hook.


def _docent_pyside6_rthook():
    import importlib.abc
    import importlib.util
    import os
    import sys

    from _pyi_rth_utils import is_macos_app_bundle, prepend_path_to_environment_variable
    from _pyi_rth_utils import qt as qt_rth_utils

    qt_rth_utils.ensure_single_qt_bindings_package("PySide6")
    if sys.platform.startswith("win"):
        pyqt_path = os.path.join(sys._MEIPASS, "PySide6")
    else:
        pyqt_path = os.path.join(sys._MEIPASS, "PySide6", "Qt")
    os.environ["QT_PLUGIN_PATH"] = os.path.join(pyqt_path, "plugins")
    if is_macos_app_bundle:
        pyqt_path_res = os.path.normpath(
            os.path.join(sys._MEIPASS, "..", "Resources", os.path.relpath(pyqt_path, sys._MEIPASS))
        )
        os.environ["QML2_IMPORT_PATH"] = os.pathsep.join(
            [os.path.join(pyqt_path_res, "qml"), os.path.join(pyqt_path, "qml")]
        )
    else:
        os.environ["QML2_IMPORT_PATH"] = os.path.join(pyqt_path, "qml")
    if sys.platform.startswith("win"):
        prepend_path_to_environment_variable(sys._MEIPASS, "PATH")
    if sys.platform == "darwin" and not is_macos_app_bundle:
        prepend_path_to_environment_variable(sys._MEIPASS, "DYLD_LIBRARY_PATH")

    class _ConfigureAfterExec(importlib.abc.Loader):
        def __init__(self, inner):
            self.inner = inner

        def create_module(self, spec):
            return self.inner.create_module(spec)

        def exec_module(self, module):
            self.inner.exec_module(module)
            qt_rth_utils.create_embedded_qt_conf("PySide6", pyqt_path)

    class _OnFirstQtCoreImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name != "PySide6.QtCore":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.loader is not None:
                spec.loader = _ConfigureAfterExec(spec.loader)
            return spec

    sys.meta_path.insert(0, _OnFirstQtCoreImport())


_docent_pyside6_rthook()
del _docent_pyside6_rthook
