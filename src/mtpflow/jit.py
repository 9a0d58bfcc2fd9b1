"""numba for every mtpflow kernel: `njit` and `prange`, with each compiled kernel running its own
copies of the numba functions it calls, so a kernel gives the same bits whether numba compiled it in
this process or loaded it from its on-disk cache, and whatever other kernels were loaded before it.

Why (numba 0.60-0.68, LLVM MCJIT). numba compiles every @njit function into its own code library.
A caller's library gets a copy of each callee's optimised LLVM IR, linked in with linkage
linkonce_odr, and is then optimised as a whole: the copies are re-optimised in the caller's context,
which with fastmath (reassoc) can round differently from the callee's own library. In the caller's
machine code the copies that LLVM did not inline are *weak* symbols, and the JIT linker
(RuntimeDyld) binds a weak symbol to a strong definition of the same name already loaded:

- a process that compiles (empty cache) has compiled and loaded each callee's own library before
  the caller, so the caller calls those;
- a process that loads the caller from numba's cache does not load its callees, so the caller runs
  its own copies (or those of another library that defines the same name and was loaded first).

So the run that filled the cache gave other round-off than every run after it (the forces of the
2,592-ion glass with the trained level-8 potential had another sha256 cold and warm; MD, being
chaotic, turns that into another trajectory).

What this module changes (installed once, on import, before any kernel is compiled): after numba
has optimised a library, and before LLVM generates its machine code, the function copies linked
into it from other libraries are renamed to names private to it (the name, a marker and a digest
of the library's own symbols). Its weak symbols then have no namesake anywhere, so it always runs
its own copies, compiled in the process or loaded from the cache, whatever was loaded before.
Nothing else changes: the optimised IR is the same (names do not steer LLVM), so the machine code
is instruction for instruction what a cache hit ran before (benchmarks/compare_machine_code.py);
numba's "module for linking", which callers link in and the cache stores for them, gets the
original names back, so callers link, deduplicate and optimise as before. The codegen's magic
tuple, part of numba's cache key, gets a marker, so cache entries written without this are never
loaded. It applies to every numba library compiled in the process after the import (a copy is by
construction an equal definition of its function). tests/test_jit_determinism.py checks that cold,
warm, concurrent and reordered runs give the same bits.
"""

from __future__ import annotations

import hashlib
import warnings

from numba import njit, prange

__all__ = ["njit", "prange", "private_callee_copies_installed"]

_MARK = "mtpflow-private-callee-copies-1"
_SUFFIX = ".mtpflow_private."
_SHARED_LINKAGES = {"linkonce_any", "linkonce_odr", "weak_any", "weak_odr"}


def _privatize_callee_copies(library) -> None:
    """After optimisation: rename the function copies that came from linked libraries, in the
    module that will be compiled, to names private to this library (the name, a marker and a
    digest of the library's own symbols)."""
    linked = set()
    for lib in library._linking_libraries:
        for fn in lib._get_module_for_linking().functions:
            if not fn.is_declaration:
                linked.add(fn.name)
    if not linked:
        return
    functions = list(library._final_module.functions)
    own = sorted(fn.name for fn in functions if not fn.is_declaration and fn.name not in linked)
    tag = hashlib.sha256("\n".join([library.name, *own]).encode()).hexdigest()[:16]
    for fn in functions:
        if not fn.is_declaration and fn.name in linked and fn.linkage.name in _SHARED_LINKAGES:
            fn.name = f"{fn.name}{_SUFFIX}{tag}"
    library._mtpflow_private_names = True


def _public_names(library, module):
    """numba's module for linking of a library whose copies were renamed, with the original names
    back (a copy when numba hands out the library's own module). numba clones it from the final
    module after code generation, which rewrites the IR in place (CodeGenPrepare, loop strength
    reduction, ...): callers have always linked that IR, so it is kept and only renamed back."""
    if module is library._final_module:
        module = module.clone()
    for fn in list(module.functions):
        if _SUFFIX in fn.name:
            fn.name = fn.name.split(_SUFFIX)[0]
    library._shared_module = module
    library._mtpflow_private_names = False
    return module


def _install() -> bool:
    try:
        from numba.core import codegen

        lib_cls = codegen.CPUCodeLibrary
        gen_cls = codegen.CPUCodegen
        original_optimize = lib_cls._optimize_final_module
        original_magic = gen_cls.magic_tuple
        original_linking = lib_cls._get_module_for_linking
    except AttributeError:
        warnings.warn("mtpflow.jit: this numba version's code libraries are not the ones mtpflow "
                      "knows (numba.core.codegen.CPUCodeLibrary._optimize_final_module, "
                      "CPUCodegen.magic_tuple); kernels work, but a run that fills numba's cache "
                      "can differ at round-off from the runs after it", RuntimeWarning, stacklevel=2)
        return False
    if getattr(original_optimize, "_mtpflow_private_copies", False):
        return True

    def _optimize_final_module(self):
        original_optimize(self)
        if hasattr(self, "_linking_libraries") and hasattr(self, "_shared_module"):
            _privatize_callee_copies(self)

    def _get_module_for_linking(self):
        module = original_linking(self)
        if getattr(self, "_mtpflow_private_names", False):
            module = _public_names(self, module)
        return module

    def magic_tuple(self):
        return (*original_magic(self), _MARK)

    _optimize_final_module._mtpflow_private_copies = True
    lib_cls._optimize_final_module = _optimize_final_module
    lib_cls._get_module_for_linking = _get_module_for_linking
    gen_cls.magic_tuple = magic_tuple
    return True


private_callee_copies_installed = _install()
