//! The AML look table: per-class cell size, nucleus shape, colours, granules and nucleoli.

use super::draw::Rgb;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Nuc {
    Round,
    Oval,
    Kidney,
    Band,
    Segmented,
    Bilobed,
    BilobedWide,
    Smudge,
    Irregular,
}

#[derive(Clone, Copy)]
pub(super) struct Granules {
    pub(super) count: usize,
    /// Radius as a fraction of the image side.
    pub(super) r: f32,
    pub(super) colour: Rgb,
    pub(super) alpha: f32,
    pub(super) over_nucleus: bool,
}

#[derive(Clone, Copy)]
pub(super) struct AmlLook {
    /// Cell radius as a fraction of the image side.
    pub(super) cell_r: f32,
    pub(super) nuc: Nuc,
    /// Nucleus size relative to the cell radius.
    pub(super) nuc_r: f32,
    /// Nucleus centre offset relative to the cell radius (eccentricity).
    pub(super) nuc_off: f32,
    /// Cytoplasm colour; `None` for the bare smudge cell.
    pub(super) cyto: Option<Rgb>,
    pub(super) nuc_col: Rgb,
    /// Chromatin texture strength (0 = flat).
    pub(super) chromatin: f32,
    pub(super) granules: Option<Granules>,
    pub(super) vacuoles: usize,
    pub(super) nucleoli: usize,
}

const NUC_VIOLET: Rgb = [125.0, 14.0, 186.0];
const FINE_PINK: Rgb = [198.0, 140.0, 196.0];
const AZURO: Rgb = [128.0, 30.0, 132.0];

/// The look of a class the table does not name.
const BASE: AmlLook = AmlLook {
    cell_r: 0.22,
    nuc: Nuc::Round,
    nuc_r: 0.6,
    nuc_off: 0.1,
    cyto: Some([200.0, 185.0, 220.0]),
    nuc_col: NUC_VIOLET,
    chromatin: 0.18,
    granules: None,
    vacuoles: 0,
    nucleoli: 0,
};

/// Fine pink neutrophilic granules.
const fn fine(count: usize) -> Granules {
    Granules {
        count,
        r: 0.008,
        colour: FINE_PINK,
        alpha: 0.55,
        over_nucleus: false,
    }
}

/// The look of class `class` (an AML-Cytomorphology abbreviation).
pub(super) fn aml_look(class: &str) -> AmlLook {
    LOOKS
        .iter()
        .find(|(name, _)| *name == class)
        .map_or(BASE, |(_, look)| *look)
}

/// Per class, what differs from [`BASE`].
const LOOKS: [(&str, AmlLook); 15] = [
    // Basophil: lobed nucleus hidden under coarse dark purple granules.
    (
        "BAS",
        AmlLook {
            cell_r: 0.21,
            nuc: Nuc::Bilobed,
            nuc_r: 0.62,
            cyto: Some([196.0, 178.0, 214.0]),
            granules: Some(Granules {
                count: 46,
                r: 0.019,
                colour: [72.0, 22.0, 108.0],
                alpha: 0.9,
                over_nucleus: true,
            }),
            ..BASE
        },
    ),
    // Erythroblast: small, round very dark nucleus, deep blue cytoplasm.
    (
        "EBO",
        AmlLook {
            cell_r: 0.15,
            nuc_r: 0.6,
            nuc_off: 0.12,
            cyto: Some([86.0, 98.0, 184.0]),
            nuc_col: [92.0, 6.0, 150.0],
            chromatin: 0.1,
            ..BASE
        },
    ),
    // Eosinophil: bilobed nucleus, big orange-red granules.
    (
        "EOS",
        AmlLook {
            cell_r: 0.23,
            nuc: Nuc::Bilobed,
            nuc_r: 0.56,
            cyto: Some([228.0, 192.0, 182.0]),
            granules: Some(Granules {
                count: 80,
                r: 0.02,
                colour: [226.0, 104.0, 66.0],
                alpha: 0.85,
                over_nucleus: false,
            }),
            ..BASE
        },
    ),
    // Smudge cell: smeared violet blob, no cytoplasm.
    (
        "KSC",
        AmlLook {
            cell_r: 0.25,
            nuc: Nuc::Smudge,
            nuc_r: 1.0,
            nuc_off: 0.0,
            cyto: None,
            nuc_col: [150.0, 84.0, 198.0],
            chromatin: 0.35,
            ..BASE
        },
    ),
    // Atypical lymphocyte: larger, irregular nucleus, abundant blue cytoplasm.
    (
        "LYA",
        AmlLook {
            cell_r: 0.23,
            nuc: Nuc::Irregular,
            nuc_r: 0.66,
            nuc_off: 0.15,
            cyto: Some([158.0, 176.0, 228.0]),
            ..BASE
        },
    ),
    // Lymphocyte: small cell, big round dense nucleus, thin blue rim.
    (
        "LYT",
        AmlLook {
            cell_r: 0.15,
            nuc_r: 0.84,
            nuc_off: 0.08,
            cyto: Some([140.0, 156.0, 216.0]),
            nuc_col: [112.0, 10.0, 176.0],
            chromatin: 0.12,
            ..BASE
        },
    ),
    // Metamyelocyte: kidney nucleus, granular cytoplasm.
    (
        "MMZ",
        AmlLook {
            cell_r: 0.21,
            nuc: Nuc::Kidney,
            nuc_r: 0.6,
            nuc_off: 0.15,
            cyto: Some([214.0, 190.0, 214.0]),
            granules: Some(fine(60)),
            ..BASE
        },
    ),
    // Monoblast: very large, round nucleus, blue cytoplasm, nucleoli.
    (
        "MOB",
        AmlLook {
            cell_r: 0.29,
            nuc_r: 0.74,
            nuc_off: 0.1,
            cyto: Some([146.0, 162.0, 222.0]),
            nuc_col: [146.0, 30.0, 196.0],
            chromatin: 0.1,
            nucleoli: 2,
            ..BASE
        },
    ),
    // Monocyte: large, kidney/folded nucleus, grey-blue vacuolated cytoplasm.
    (
        "MON",
        AmlLook {
            cell_r: 0.27,
            nuc: Nuc::Kidney,
            nuc_r: 0.62,
            nuc_off: 0.12,
            cyto: Some([180.0, 182.0, 216.0]),
            nuc_col: [136.0, 26.0, 190.0],
            vacuoles: 7,
            ..BASE
        },
    ),
    // Myelocyte: oval eccentric nucleus, granular cytoplasm.
    (
        "MYB",
        AmlLook {
            cell_r: 0.22,
            nuc: Nuc::Oval,
            nuc_r: 0.56,
            nuc_off: 0.3,
            cyto: Some([210.0, 186.0, 214.0]),
            granules: Some(fine(70)),
            ..BASE
        },
    ),
    // Myeloblast: large, round fine-chromatin nucleus, high N:C ratio, nucleoli.
    (
        "MYO",
        AmlLook {
            cell_r: 0.25,
            nuc_r: 0.8,
            nuc_off: 0.06,
            cyto: Some([160.0, 170.0, 220.0]),
            nuc_col: [140.0, 26.0, 192.0],
            chromatin: 0.08,
            nucleoli: 2,
            ..BASE
        },
    ),
    // Band neutrophil: C/U-shaped band nucleus, pinkish granular cytoplasm.
    (
        "NGB",
        AmlLook {
            cell_r: 0.21,
            nuc: Nuc::Band,
            nuc_r: 0.7,
            nuc_off: 0.05,
            cyto: Some([218.0, 194.0, 216.0]),
            granules: Some(fine(55)),
            ..BASE
        },
    ),
    // Segmented neutrophil: 3–4 lobes, pinkish-lilac finely granular cytoplasm.
    (
        "NGS",
        AmlLook {
            cell_r: 0.21,
            nuc: Nuc::Segmented,
            nuc_r: 0.72,
            nuc_off: 0.04,
            cyto: Some([218.0, 192.0, 216.0]),
            granules: Some(fine(55)),
            ..BASE
        },
    ),
    // Bilobed promyelocyte: wide lobes, coarse azurophilic granules.
    (
        "PMB",
        AmlLook {
            cell_r: 0.25,
            nuc: Nuc::BilobedWide,
            nuc_r: 0.62,
            cyto: Some([190.0, 176.0, 222.0]),
            granules: Some(Granules {
                count: 36,
                r: 0.014,
                colour: AZURO,
                alpha: 0.8,
                over_nucleus: false,
            }),
            ..BASE
        },
    ),
    // Promyelocyte: large, round eccentric nucleus, coarse azurophilic granules.
    (
        "PMO",
        AmlLook {
            cell_r: 0.26,
            nuc_r: 0.6,
            nuc_off: 0.2,
            cyto: Some([190.0, 176.0, 222.0]),
            nucleoli: 1,
            granules: Some(Granules {
                count: 50,
                r: 0.014,
                colour: AZURO,
                alpha: 0.8,
                over_nucleus: false,
            }),
            ..BASE
        },
    ),
];
