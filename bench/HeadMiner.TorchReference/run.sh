#!/usr/bin/env bash
# LibTorch 2.10 reference (README.md): run.sh <forward|gemm|patching|train|all> [--quick] [--threads N] [--no-mkl-shim] [--torch-huge-pages]
# Applies ../shared/tools/torchsharp-debian12 (idempotent), builds this project (outside HeadMiner.slnx) and runs it
# with OPENBLAS_CORETYPE unset and, unless --no-mkl-shim, the LD_PRELOAD shim that lets LibTorch's MKL take its
# AVX-512 path on AMD (the fair float32 baseline; --no-mkl-shim shows the out-of-the-box figure). With
# --torch-huge-pages it also sets THP_MEM_ALLOC_ENABLE=1, LibTorch's own switch that puts its allocations of 2 MiB and
# more on transparent huge pages, as our mapped checkpoint is (README.md; it did not make torch faster here). All only
# for this command.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
setup="$root/../shared/tools/torchsharp-debian12/setup.sh"
if [ ! -f "$setup" ]; then echo "run.sh: $setup is missing (TorchSharp's libstdc++ fix for Debian 12)" >&2; exit 1; fi
# setup.sh's `ldconfig -p | awk '...exit'` can die of SIGPIPE under its own pipefail (exit 141), more often under
# nice; it is idempotent, so one retry is enough. It also needs the bin folder to exist.
mkdir -p "$here/bin"
if ! log=$(bash "$setup" "$here/bin" 2>&1) && ! log=$(bash "$setup" "$here/bin" 2>&1); then echo "$log" >&2; exit 1; fi
dotnet build -c Release "$here" --nologo -v q -clp:NoSummary >&2
preload=${TORCHSHARP_SHIM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/torchsharp-debian12}/libmkl_intel_cpu_true.so
thp=""
args=()
for a in "$@"; do
  case "$a" in
    --no-mkl-shim) preload="" ;;
    --torch-huge-pages) thp=1 ;;
    *) args+=("$a") ;;
  esac
done
if [ -n "$preload" ] && [ ! -f "$preload" ]; then echo "run.sh: $preload was not built (setup.sh needs gcc); pass --no-mkl-shim to run without it" >&2; exit 1; fi
if [ -n "$thp" ]; then export THP_MEM_ALLOC_ENABLE=1; fi
exec env -u OPENBLAS_CORETYPE LD_PRELOAD="$preload" dotnet "$here/bin/Release/net10.0/HeadMiner.TorchReference.dll" "${args[@]}"
