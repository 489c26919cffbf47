"""Write the synthetic PointRend dataset (mmseg layout + COCO instances).

Example:
    python tools/dataset_converters/make_synthetic.py data/synthetic
"""

import argparse
import time

from mmpointrend.dataset_makers import generate_synthetic_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='dataset root, e.g. data/synthetic')
    parser.add_argument('--num-train', type=int, default=48)
    parser.add_argument('--num-val', type=int, default=16)
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    counts = generate_synthetic_dataset(
        args.out_dir, args.num_train, args.num_val, args.size, args.seed
    )
    print(
        f'wrote {counts} to {args.out_dir} in '
        f'{time.perf_counter() - start:.1f} s'
    )


if __name__ == '__main__':
    main()
