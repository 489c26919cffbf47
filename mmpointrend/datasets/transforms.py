"""Data-pipeline transforms: mmseg's, with errors that name the file."""

from __future__ import annotations

from mmseg.datasets.transforms import LoadAnnotations

from mmpointrend.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadSegAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that names an unreadable label map.

    mmseg decodes label PNGs with Pillow, whose error on a corrupt or
    truncated file ("cannot identify image file <BytesIO ...>") does not say
    which of thousands of files is broken. A sample without a label map
    (inference on a plain image) passes through unchanged, so the same test
    pipeline serves evaluation and inference.

    Args:
        **kwargs: Passed to :class:`mmseg.datasets.transforms.LoadAnnotations`.
    """

    def _load_seg_map(self, results: dict) -> None:
        """Load ``results['seg_map_path']``; name it when decoding fails.

        Args:
            results (dict): The pipeline's result dict.
        """
        if results.get('seg_map_path') is None:
            return  # an image without annotation (inference): nothing to load
        try:
            super()._load_seg_map(results)
        except Exception as exc:  # noqa: BLE001 - any decoder failure
            path = results.get('seg_map_path')
            raise ValueError(
                f'cannot read the label map {path} ({type(exc).__name__}: '
                f'{exc}); re-export it as a PNG of class indices, or remove '
                'the image from the split'
            ) from exc
