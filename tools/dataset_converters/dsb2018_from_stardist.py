"""Write the DSB2018 nuclei image bundled with stardist as a dataset.

Needs `pip install --no-deps stardist tifffile` (only stardist's data files
are read). One image, split spatially into train and test crops.

Example:
    python tools/dataset_converters/dsb2018_from_stardist.py data/dsb2018
"""

import argparse

from mmpointrend.dataset_makers.dsb2018 import convert_dsb2018


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir')
    parser.add_argument('--split', type=int, default=384)
    args = parser.parse_args()
    print(convert_dsb2018(args.out_dir, args.split), '->', args.out_dir)


if __name__ == '__main__':
    main()
