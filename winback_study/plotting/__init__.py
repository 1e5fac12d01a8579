"""Charts and their export: the house style (:mod:`.style`) and every chart (:mod:`.charts`).

``import winback_study`` does not import pyplot; it is imported when a chart is drawn.
"""

from winback_study.plotting.style import (
    FORMATS,
    LIFETIME_STYLES,
    METHOD_COLORS,
    OFFER_COLORS,
    OKABE_ITO,
    REASON_COLORS,
    Table,
    figures_dir,
    save_figure,
    table,
    use_house_style,
)

__all__ = ["FORMATS", "LIFETIME_STYLES", "METHOD_COLORS", "OFFER_COLORS", "OKABE_ITO",
           "REASON_COLORS", "Table", "figures_dir", "save_figure", "table", "use_house_style"]
