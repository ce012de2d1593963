// The method registry: builds a Method from the "method" section of a configuration, rebuilds a
// deployable module from its DeploySpec, and loads a trained method from its run directory (a
// frozen teacher).
//
// Method names (the "method.name" key):
//   student         one modality, ResNet-18 + Linear / the encoder-decoder segmenter   models/baselines.cpp
//   teacher         one encoder per modality, fused by element-wise sum                models/baselines.cpp
//   kd              a student distilled from a frozen teacher run (KDv1/v2, DKD, CTKD, MLKD, ±LSKD)
//   discom_kd       DisCoM-KD                                                          models/discom_kd.cpp
//   crodino_kd      CroDiNo-KD                                                         models/crodino_kd.cpp
//   anyseg_teacher  AnySeg stage 1, anyseg_student  AnySeg stage 2                     models/anyseg.cpp
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/method.h"

namespace xmkd::models {

std::shared_ptr<Method> make_method(const io::ConfigNode& method_config, const MethodContext& context);
std::vector<std::string> method_names();

// What a method asks of the data pipeline: the defaults of the trainer's keys
// train.independent_shuffle and augment.decoupled, known from the name before any data exist.
struct MethodDataNeeds {
  bool independent_modality_shuffle = false;   // each modality may draw its own sample order
  bool decoupled_augmentation = false;         // each modality draws its own geometry
};
// The needs of method `name` (an unknown name needs nothing; make_method reports it).
MethodDataNeeds method_data_needs(const std::string& name);

// Builders, one per method (each reads its own keys of the "method" section).
std::shared_ptr<Method> make_student(const io::ConfigNode& config, const MethodContext& context);
std::shared_ptr<Method> make_teacher(const io::ConfigNode& config, const MethodContext& context);
std::shared_ptr<Method> make_kd_student(const io::ConfigNode& config, const MethodContext& context);
std::shared_ptr<Method> make_discom_kd(const io::ConfigNode& config, const MethodContext& context);
std::shared_ptr<Method> make_crodino_kd(const io::ConfigNode& config, const MethodContext& context);
std::shared_ptr<Method> make_anyseg_teacher(const io::ConfigNode& config, const MethodContext& context);
std::shared_ptr<Method> make_anyseg_student(const io::ConfigNode& config, const MethodContext& context);

// Rebuilds an (untrained) deployable module of the given architecture; the error lists the
// architectures. Each architecture's file provides its own make_<architecture>(spec).
std::shared_ptr<Deployable> make_deployable(const DeploySpec& spec);

}  // namespace xmkd::models
