"""Imported by the `import` option (by name or by path): leaves a mark."""
import builtins

builtins.corral_startup_marks = getattr(builtins, "corral_startup_marks", 0) + 1
