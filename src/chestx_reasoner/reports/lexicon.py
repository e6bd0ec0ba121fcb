"""The phrase table: how radiologists write each finding (our own list, from report language).

Plurals of each phrase's last word are added automatically (`vocabulary.pluralize`). Longer
phrases win over shorter ones inside them ("pleural effusion" over "effusion").
"""

from chestx_reasoner.reports.vocabulary import Concept

ECM = "Enlarged Cardiomediastinum"
OPACITY = "Lung Opacity"
LESION = "Lung Lesion"
EFFUSION = "Pleural Effusion"
PLEURAL_OTHER = "Pleural Other"
DEVICES = "Support Devices"


def _c(name, observation, phrases, label="same", **kw) -> Concept:
    """A concept; `label="same"` counts it toward its own observation's CheXpert column."""
    return Concept(name=name, observation=observation, phrases=tuple(phrases),
                   chexpert_label=observation if label == "same" else label, **kw)


CONCEPTS: tuple[Concept, ...] = (
    # --- No Finding -------------------------------------------------------------------------
    _c("no finding", "No Finding", [
        "no acute cardiopulmonary abnormality", "no acute cardiopulmonary process",
        "no acute cardiopulmonary disease", "no acute cardiopulmonary findings",
        "no active disease", "no acute disease", "no acute findings", "no acute abnormality",
        "no acute intrathoracic process", "no acute pulmonary disease", "normal chest",
        "normal study", "normal chest radiograph", "normal chest x-ray", "unremarkable chest",
        "no radiographic evidence of acute cardiopulmonary disease",
    ], label=None, abnormal=False),
    # --- Enlarged Cardiomediastinum -----------------------------------------------------------
    _c("enlarged cardiomediastinum", ECM, [
        "enlarged cardiomediastinum", "widened mediastinum", "mediastinal widening",
        "widening of the mediastinum", "mediastinal enlargement", "enlarged mediastinum",
        "prominent mediastinum", "mediastinal prominence", "enlarged cardiomediastinal silhouette",
        "widened cardiomediastinal silhouette", "superior mediastinal widening",
    ]),
    _c("cardiomediastinal silhouette", ECM, [
        "cardiomediastinal silhouette", "cardiomediastinal contour", "cardiomediastinal contours",
        "cardiomediastinal", "mediastinal contour", "mediastinal contours",
        "mediastinal silhouette",
        "mediastinum", "mediastinal configuration", "pericardial silhouette",
        "cardiomediastinal structures", "mediastinal structures", "hilar contours",
        "cardiac and mediastinal contours", "heart and mediastinum",
    ], kind="anatomy", finding="enlarged cardiomediastinum"),
    _c("hilar enlargement", ECM, [
        "hilar enlargement", "enlarged hilum", "enlarged hila", "hilar prominence",
        "prominent hilum", "prominent hila", "hilar fullness", "hilar adenopathy",
        "hilar lymphadenopathy", "mediastinal lymphadenopathy", "lymphadenopathy", "adenopathy",
        "bulky hila", "enlarged lymph nodes", "hilar lymph nodes",
        "enlarged hilar lymph nodes", "hilar lymph node enlargement", "lymph node enlargement",
    ], label=None),
    _c("tortuous aorta", None, [
        "tortuous aorta", "aortic tortuosity", "tortuosity of the aorta", "unfolded aorta",
        "unfolding of the aorta", "ectatic aorta", "tortuous thoracic aorta",
        "tortuosity of the thoracic aorta", "aortic ectasia", "dilated aorta",
        "aortic enlargement", "aortic aneurysm",
        # On a chest film tortuosity is the aorta's ("tortuous and ectatic appearing aorta",
        # "mild tortuosity of the descending thoracic aorta", "the aorta is tortuous").
        "tortuous", "tortuosity", "ectatic",
    ], label=None, abnormal=False),
    # --- Cardiomegaly -----------------------------------------------------------------------
    _c("cardiomegaly", "Cardiomegaly", [
        "cardiomegaly", "cardiac enlargement", "enlarged heart", "enlarged cardiac silhouette",
        "enlargement of the cardiac silhouette", "enlarged heart size", "enlarged cardiac shadow",
        "heart is enlarged", "heart enlargement", "enlargement of the heart", "heart is large",
        "heart is mildly enlarged", "heart is moderately enlarged", "heart is severely enlarged",
        "heart appears enlarged", "heart remains enlarged", "large heart",
        "enlarged cardiac contour",
        "enlarged cardiac size", "cardiac silhouette is enlarged", "heart size is enlarged",
        "megacardia", "increased heart size", "increased cardiac size",
    ]),
    _c("heart size", "Cardiomegaly", [
        "heart size", "cardiac size", "cardiac silhouette", "cardiac shadow", "cardiac contour",
        "heart shadow", "cardiac contours", "size of the heart", "heart silhouette",
        "cardiac diameter", "cardiothoracic ratio",
    ], kind="anatomy", finding="cardiomegaly"),
    # "Opacity obscures the left heart border" is the silhouette sign of the lung beside the
    # heart: a structure of its own, never a statement of the heart's size.
    _c("heart border", None, ["heart border", "heart borders", "cardiac border",
                              "cardiac borders"], label=None, kind="anatomy", abnormal=False),
    # "The heart is normal in size": counted only when a statement qualifies it.
    _c("heart", "Cardiomegaly", ["heart"], kind="anatomy", finding="cardiomegaly",
       needs_cue=True),
    # --- Lung Opacity -----------------------------------------------------------------------
    _c("opacity", OPACITY, [
        "opacity", "opacities", "opacification", "opacifications", "density", "densities",
        "infiltrate", "infiltrates", "infiltration", "airspace disease", "air space disease",
        "airspace opacity", "air space opacity", "airspace process", "haziness", "hazy opacity",
        "ground glass", "ground-glass opacity", "reticular opacity", "reticulonodular opacity",
        "interstitial opacity", "interstitial markings", "increased interstitial markings",
        "interstitial prominence", "interstitial disease", "interstitial lung disease",
        "increased lung markings", "increased markings",
        "interstitial lung markings", "prominent lung markings", "coarse lung markings",
        "coarsened lung markings", "accentuated lung markings", "interstitial changes",
        "interstitial thickening", "interstitial pattern",
        "reticular markings", "bronchovascular markings", "reticular opacities",
        "peribronchial cuffing", "peribronchial thickening", "bronchial wall thickening",
        "streaky opacity", "patchy opacity", "linear opacity",
    ]),
    _c("scarring", OPACITY, [
        "scarring", "scar", "scars", "cicatrix", "fibrosis", "fibrotic changes",
        "pulmonary fibrosis",
        "parenchymal scarring", "apical scarring", "linear scarring", "fibrotic scarring",
    ]),  # a parenchymal scar is an opacity on the film, and labelled as one
    _c("bronchiectasis", OPACITY, ["bronchiectasis", "bronchiectatic changes"], label=None),
    # --- Lung Lesion ------------------------------------------------------------------------
    _c("nodule", LESION, [
        "nodule", "nodular opacity", "nodular density", "nodular opacification", "pulmonary nodule",
        "lung nodule", "micronodule", "nodularity", "round opacity", "rounded opacity",
        "round density", "rounded density", "nodular densities",
    ]),
    _c("mass", LESION, [
        "mass", "lung mass", "pulmonary mass", "tumor", "neoplasm", "malignancy", "carcinoma",
        "cavitary lesion", "cavitation", "cavity", "lump", "lesion", "metastasis", "metastases",
        "metastatic disease",
    ]),
    # "Mass effect on the trachea" describes displacement, not a lung mass: matched whole so
    # that "mass" alone does not fire.
    _c("mass effect", None, ["mass effect"], label=None, kind="anatomy", abnormal=False),
    # "The thoracic cavity" is the chest itself, not a cavitary lesion.
    _c("body cavity", None, ["thoracic cavity", "chest cavity", "pleural cavity",
                             "abdominal cavity", "peritoneal cavity", "pericardial cavity"],
       label=None, kind="anatomy", abnormal=False),
    _c("granuloma", LESION, [
        "granuloma", "calcified granuloma", "granulomatous disease", "granulomatous process",
        "calcified nodule", "calcified granulomata", "granulomatous changes",
    ], label=None),
    # --- Edema ------------------------------------------------------------------------------
    _c("edema", "Edema", [
        "edema", "pulmonary edema", "interstitial edema", "alveolar edema", "fluid overload",
        "pulmonary interstitial edema", "heart failure", "chf", "congestive heart failure",
        "kerley b lines", "kerley lines", "kerley b-lines", "kerley b-line", "kerley b line",
        "septal lines", "perihilar haziness", "cephalization",
        "cephalization of vessels", "pulmonary vascular redistribution",
    ]),
    _c("vascular congestion", "Edema", [
        "vascular congestion", "pulmonary vascular congestion", "pulmonary congestion",
        "venous congestion", "pulmonary venous congestion", "vascular engorgement",
        "vascular prominence", "prominence of the pulmonary vasculature",
        "engorgement of the pulmonary vasculature", "indistinctness of the vasculature",
        "vascular indistinctness", "pulmonary venous hypertension", "congestion",
        "elevated pulmonary venous pressure", "elevation of pulmonary venous pressure",
        "elevated venous pressure",
    ]),  # CheXpert counts vascular congestion as Edema
    _c("pulmonary vasculature", "Edema", [
        "pulmonary vasculature", "pulmonary vascularity", "vasculature", "vascularity",
        "pulmonary vessels", "pulmonary vascular markings", "vascular markings",
        # Plain lung markings are the normal lung's vessels: "the lung markings reach the
        # chest wall" sees no opacity (and their absence is a pneumothorax's sign).
        "lung markings",
    ], label=None, kind="anatomy", finding="vascular congestion", abnormal=False),
    # --- Consolidation ----------------------------------------------------------------------
    _c("consolidation", "Consolidation", [
        "consolidation", "consolidations", "consolidative opacity", "consolidative process",
        "consolidative changes", "air bronchograms", "air bronchogram",
        "lobar consolidation", "airspace consolidation",
    ]),
    # --- Pneumonia --------------------------------------------------------------------------
    _c("pneumonia", "Pneumonia", [
        "pneumonia", "pneumonias", "infection", "infectious process", "infectious etiology",
        "bronchopneumonia", "pneumonitis", "aspiration", "aspiration pneumonia",
        "infectious infiltrate", "multifocal pneumonia",
    ]),
    # --- Atelectasis ------------------------------------------------------------------------
    _c("atelectasis", "Atelectasis", [
        "atelectasis", "atelectases", "atelectatic", "atelectatic changes", "collapse",
        "lobar collapse", "volume loss", "subsegmental atelectasis", "plate-like atelectasis",
        "platelike atelectasis", "discoid atelectasis", "linear atelectasis",
        "bibasilar atelectasis",
        "atelectatic change",
    ]),
    _c("low lung volumes", None, [
        "low lung volumes", "low lung volume", "hypoinflation", "hypoinflated",
        "poor inspiration", "shallow inspiration", "low inspiratory volumes", "hypoventilation",
        "decreased lung volumes", "diminished lung volumes", "reduced lung volumes",
        # Vessels and bronchi drawn together by a shallow inspiration: how low volumes look,
        # no opacity of the lung (nor atelectasis, unless the report says so).
        "bronchovascular crowding", "vascular crowding", "crowding of the bronchovascular "
        "structures", "crowding of bronchovascular markings", "crowding of the vascular "
        "markings", "crowding of vascular markings", "crowded bronchovascular markings",
        "crowded vasculature",
    ], label=None, abnormal=False),
    # --- Pneumothorax -----------------------------------------------------------------------
    _c("pneumothorax", "Pneumothorax", [
        "pneumothorax", "pneumothoraces", "pneumothoraxes", "ptx", "hydropneumothorax",
        "visceral pleural line", "pleural air", "apical pneumothorax", "tension pneumothorax",
        # The pleural line is the edge of a collapsed lung, the sign of a pneumothorax (a
        # bare "line" is a catheter); air in the pleural space is one by definition.
        "pleural line", "pleural lines", "pleural edge", "air in the pleural space",
        "air within the pleural space", "air in the pleural cavity",
        # Lung markings missing beyond that line are the same sign, in words that hold a
        # negation of their own: "absence of lung markings beyond the pleural line" sees a
        # pneumothorax ("no pleural line or absence of lung markings" still denies one).
        "absence of lung markings", "absent lung markings", "lack of lung markings",
        "no lung markings", "without lung markings", "devoid of lung markings",
        "absence of vascular markings", "absent vascular markings", "lack of vascular markings",
        "no vascular markings", "devoid of vascular markings",
    ]),
    # --- Pleural Effusion -------------------------------------------------------------------
    _c("pleural effusion", EFFUSION, [
        "pleural effusion", "effusion", "pleural fluid", "hydrothorax", "meniscus sign",
        "layering fluid",
        "fluid in the fissure", "fissural fluid", "subpulmonic effusion", "loculated effusion",
        "loculated fluid", "hemothorax", "empyema", "pleural effusions",
    ]),
    # Blunting is the sign of a small effusion or of pleural thickening: a hedge by itself.
    _c("costophrenic angle blunting", EFFUSION, [
        "blunting of the costophrenic angle", "blunting of the costophrenic angles",
        "blunting of costophrenic angle", "blunted costophrenic angle",
        "blunted costophrenic angles", "costophrenic angle blunting", "costophrenic blunting",
        "blunting of the left costophrenic angle", "blunting of the right costophrenic angle",
        "blunting of both costophrenic angles", "blunting of the costophrenic sulcus",
    ], finding="pleural effusion", default_status="uncertain"),
    _c("pericardial effusion", None, ["pericardial effusion", "pericardial fluid"], label=None),
    _c("pleural spaces", EFFUSION, [
        "pleural spaces", "pleural space", "costophrenic angles", "costophrenic angle",
        "costophrenic sulci", "costophrenic sulcus",
    ], label=None, kind="anatomy", finding="pleural effusion", abnormal=False),
    # --- Pleural Other ----------------------------------------------------------------------
    _c("pleural thickening", PLEURAL_OTHER, [
        "pleural thickening", "pleural scarring", "pleural scar", "pleural plaque",
        "pleural plaques", "pleural calcification", "calcified pleural plaque",
        "pleural abnormality", "fibrothorax", "apical pleural thickening", "pleural reaction",
        "pleural-parenchymal scarring", "pleuroparenchymal scarring", "apical cap",
        "thickening of pleura", "thickened pleura", "pleura thickening", "pleural cicatrix",
    ]),
    # --- Fracture ---------------------------------------------------------------------------
    _c("fracture", "Fracture", [
        "fracture", "fractures", "fractured", "rib fracture", "rib fractures", "clavicle fracture",
        "compression fracture", "compression deformity", "vertebral fracture",
        "healed fracture", "old fracture", "callus formation", "displaced fracture",
    ]),
    # --- Support Devices --------------------------------------------------------------------
    _c("endotracheal tube", DEVICES, [
        "endotracheal tube", "et tube", "ett", "ett tube", "tracheostomy tube", "tracheostomy",
        "trach tube", "endotracheal", "breathing tube",
    ]),
    _c("enteric tube", DEVICES, [
        "enteric tube", "nasogastric tube", "ng tube", "og tube", "orogastric tube",
        "feeding tube", "dobhoff tube", "dobhoff", "nasogastric", "gastric tube",
    ]),
    _c("central venous catheter", DEVICES, [
        "central venous catheter", "central line", "central venous line", "picc", "picc line",
        "port-a-cath", "port a cath", "porta cath", "portacath", "mediport", "power port",
        "internal jugular catheter", "ij catheter", "ij line", "subclavian catheter",
        "subclavian line", "swan-ganz catheter", "swan ganz catheter", "pulmonary artery catheter",
        "dialysis catheter", "hemodialysis catheter", "catheter", "venous catheter",
        "port", "infusion port", "double-lumen catheter", "triple-lumen catheter",
        # A bare "line" is as often a sign ("Kerley B lines", "septal lines", "lines of
        # scarring", "the pleural line and no markings beyond this line"): only a line named
        # as a device counts.
        "pic line", "pick line", "arterial line", "pulmonary arterial line", "midline catheter",
        "line tip", "tip of the line", "venous access line", "central access line",
        "internal jugular line", "jugular line", "internal jugular venous line", "femoral line",
        "dialysis line", "hemodialysis line", "venous line", "access line",
    ]),
    _c("cardiac device", DEVICES, [
        "pacemaker", "pacer", "pacemaker leads", "pacer leads", "pacing leads", "pacing wires",
        "leads", "icd", "defibrillator", "aicd", "cardiac device", "loop recorder",
        "dual-chamber pacemaker", "pacemaker generator", "pacemaker wires", "epicardial wires",
        "pacing wire", "valve replacement", "prosthetic valve", "mitral valve replacement",
        "aortic valve replacement", "valve prosthesis", "lvad", "intra-aortic balloon pump",
        "iabp", "impella",
    ]),
    _c("chest tube", DEVICES, [
        "chest tube", "chest tubes", "pleural drain", "pigtail catheter", "thoracostomy tube",
        "pleural catheter", "drain", "drains", "mediastinal drain",
    ]),
    _c("surgical hardware", DEVICES, [
        "hardware", "orthopedic hardware", "spinal fusion hardware", "fixation hardware", "plate",
        "screws", "coil", "coils", "embolization coils", "device", "devices", "support devices",
        "monitoring devices", "tubes and lines", "lines and tubes", "lines or tubes",
        "tubes or lines", "lines and devices", "lines or devices", "tube", "tubes",
        "prosthesis", "arthroplasty", "shoulder arthroplasty", "cardiac monitor",
        "prosthetic", "internal fixation", "fixation device", "orthopedic fixation",
    ]),
    # Not support devices in CheXpert's sense (its labeler does not count them), and no sign of
    # disease either: they never block "No Finding".
    _c("postsurgical changes", None, [
        "sternotomy wires", "sternal wires", "median sternotomy wires", "surgical clips",
        "surgical clip", "clips", "surgical staples", "cerclage wires", "wires", "sternotomy",
        "median sternotomy", "cabg", "surgical instruments", "postsurgical changes",
        "postoperative changes", "kyphoplasty", "vertebroplasty", "stent", "stents",
        "spinal fusion", "pneumonectomy", "lobectomy", "upper lobectomy", "lower lobectomy",
        "wedge resection",
    ], label=None, abnormal=False),
    _c("monitoring leads", DEVICES, [
        "ekg leads", "ecg leads", "telemetry leads", "monitoring leads", "ekg wires",
        "ecg wires", "external leads", "ekg lead", "ecg lead", "telemetry lead",
    ], label=None, abnormal=False),
    # --- Finer findings outside the 14 -------------------------------------------------------
    # An old deformity of a rib, clavicle or vertebra: often a healed injury, not an acute
    # fracture (a compression deformity is one, under Fracture).
    _c("bone deformity", None, [
        "rib deformity", "rib deformities", "deformity of ribs", "deformity of the ribs",
        "deformities of the ribs", "deformity of posterior ribs", "deformity of clavicle",
        "deformity of the clavicle", "clavicle deformity", "clavicular deformity",
        "vertebral deformity", "deformity of thoracic vertebrae", "thoracic vertebrae deformity",
        "deformity of vertebra", "deformity of vertebrae", "thoracic deformity",
        # On a chest film a deformity is a bone's ("there is a deformity within the
        # midthoracic spine", "within the 8th rib there is a deformity").
        "deformity", "deformities",
    ], label=None),
    # Normal variants and shadows a reader names so as not to take them for disease.
    _c("nipple shadow", None, [
        "nipple shadow", "nipple shadows", "nipple shadowing",
    ], label=None, abnormal=False),
    _c("azygos lobe", None, [
        "azygos lobe", "azygos fissure", "accessory azygos fissure", "azygous lobe",
        "azygous fissure",
    ], label=None, abnormal=False),
    _c("mediastinal shift", None, [
        "mediastinal shift", "shift of the mediastinum", "mediastinal deviation",
    ], label=None),
    _c("foreign body", None, [
        "foreign body", "foreign bodies", "metallic foreign body", "metallic foreign bodies",
        "bullet fragments", "shrapnel",
    ], label=None),
    _c("emphysema", None, [
        "emphysema", "emphysematous changes", "copd", "chronic obstructive pulmonary disease",
        "hyperinflation", "hyperinflated", "hyperexpanded", "hyperexpansion",
        "hyperexpanded lungs", "bullae", "bulla", "bullous disease", "blebs", "hyperlucency",
        "blister", "blisters", "hyperlucent", "hyperlucent lung", "hyperdistended",
        "flattened diaphragm",
        "flattened diaphragms", "flattening of the diaphragms", "flattening of the hemidiaphragms",
        "overinflation", "overinflated", "hyperdistention",
    ], label=None),
    _c("hernia", None, [
        "hernia", "hiatal hernia", "hiatus hernia", "diaphragmatic hernia",
        "morgagni hernia", "bochdalek hernia",
    ], label=None),
    _c("calcification", None, [
        "calcification", "calcifications", "calcified", "calcinosis", "vascular calcification",
        "aortic calcification", "atherosclerotic calcification", "atherosclerosis",
        "atherosclerotic disease", "calcified lymph node", "calcified lymph nodes",
        "aortic knob calcification", "calcified aorta", "arteriosclerosis",
        "coronary artery calcification", "mitral annular calcification",
        "atherosclerosis of aorta", "aortic atherosclerosis",
    ], label=None),
    _c("elevated hemidiaphragm", None, [
        "elevated hemidiaphragm", "elevation of the hemidiaphragm", "elevated diaphragm",
        "elevated left hemidiaphragm", "elevated right hemidiaphragm",
        "elevation of the left hemidiaphragm", "elevation of the right hemidiaphragm",
        "eventration", "diaphragmatic eventration", "elevation of the diaphragm",
        "elevation of diaphragm", "elevated hemidiaphragms",
    ], label=None),
    _c("spinal degeneration", None, [
        "degenerative changes", "degenerative disease", "spondylosis", "osteophytes",
        "osteophyte formation", "degenerative changes of the spine", "degenerative disc disease",
        "degenerative spine", "arthritic changes", "sclerosis of thoracic vertebrae",
        "degenerative changes of the thoracic spine", "arthritis", "osteoarthritis",
        "degenerative joint disease", "diffuse idiopathic skeletal hyperostosis",
        "degenerative change", "degenerative endplate changes", "endplate degenerative changes",
        "degenerative disc change", "degenerative disc changes", "spondylotic changes",
        "degenerative spondylosis",
    ], label=None),
    _c("scoliosis", None, [
        "scoliosis", "dextroscoliosis", "levoscoliosis", "kyphosis", "kyphoscoliosis",
        "spinal curvature", "curvature of the spine", "dextrocurvature", "levocurvature",
    ], label=None),
    _c("subcutaneous emphysema", None, [
        "subcutaneous emphysema", "subcutaneous air", "soft tissue emphysema",
        "pneumomediastinum", "pneumoperitoneum", "free air", "free intraperitoneal air",
    ], label=None),
    _c("osseous lesion", None, [
        "lytic lesion", "sclerotic lesion", "blastic lesion", "bone lesion", "osseous lesion",
        "bony metastases", "osseous metastases", "osteopenia", "demineralization",
        # A density of the bone is no lung opacity ("corticated bony density over the
        # clavicle"): the longer phrase keeps "density" from reading as one.
        "bony density", "bone density", "osseous density", "sclerotic density", "bone island",
    ], label=None),
)
