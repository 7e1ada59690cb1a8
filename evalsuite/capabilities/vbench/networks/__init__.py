"""VBench's scorer networks, re-implemented on current torch and loaded strictly from the
upstream checkpoints: :mod:`.amt` (motion_smoothness), :mod:`.musiq` (imaging_quality),
:mod:`.umt` (human_action), :mod:`.viclip` (overall_consistency, temporal_style), :mod:`.grit`
(object_class, multiple_objects, color, spatial_relationship) and :mod:`.tag2text` (scene)."""
