"""Fill the data root once, on a machine with network, for offline classrooms.

    python -m kdmeta_lib.data.prefetch     # into the data root (``$KDMETA_DATA`` or data/)

Downloads Omniglot and MNIST with torchvision, decodes Omniglot into its tensor cache, and prints
what it did. Copy the folder to the students' machines (or a shared, even read-only, drive) and
point ``KDMETA_DATA`` at it.
"""

from __future__ import annotations

import os

from .loaders import data_root, load_fewshot_data, load_mnist


def main() -> None:
    root = data_root(create=True)
    # Decoded caches go inside the folder to copy, where students' machines look for them first
    # (``<data root>/cache``). On a read-only share they decode once into ~/.cache/kdmeta instead.
    os.environ["KDMETA_CACHE"] = str(root / "cache")
    print(f"Filling {root} ...")
    load_fewshot_data(source="omniglot")
    load_mnist(source="torchvision")
    print(f"Done. Copy {root} to the classroom machines and set KDMETA_DATA to it.")


if __name__ == "__main__":
    main()
