/*
 * acalsim-xtask's glue: ACALSim's virtio-sst-device, written for QEMU 7.0,
 * compiled unmodified into QEMU 10.2.
 *
 * `cargo xtask qemu build` copies ACALSim's virtio-device/virtio-sst.c to
 * hw/virtio/acalsim/ and its two headers to include/hw/virtio/ of the
 * unpacked QEMU tree, and this file to hw/virtio/; patch 0002 adds this file
 * to the target-specific virtio source set. Every API difference between 7.0
 * and 10.2 that ACALSim's code meets is bridged here, type-correctly (no
 * function pointer is ever cast to another type):
 *
 *   - qemu/osdep.h must come first: ACALSim's header includes
 *     hw/virtio/virtio.h before it, so every QEMU header it uses is included
 *     here first and its own includes become no-ops.
 *   - virtio_init() lost its name argument in 7.1: a 4-argument macro drops it.
 *     (The name now comes from virtio_device_names[], which patch 0002
 *     extends with the device's ID 0x1042.)
 *   - DEFINE_PROP_END_OF_LIST() is gone since 10.0, and device_class_set_props()
 *     rejects a terminated array at compile time: the terminator becomes an
 *     empty entry, and the properties are registered without it.
 *   - Since 10.1 TypeInfo.class_init takes `const void *` and
 *     VirtioDeviceClass.set_status returns int: ACALSim's class_init fills a
 *     7.0-shaped VirtioDeviceClass and is registered through a 7.0-shaped
 *     TypeInfo; the glue's own class_init calls it and copies the members
 *     into QEMU's class, set_status through an int-returning wrapper.
 *
 * A 7.0 API this file does not bridge fails to compile, and the compiler's
 * error names it (e.g. "AcalsimVirtioDeviceClass70 has no member named ...":
 * add that member here and copy it in acalsim_class_init).
 */

#include "qemu/osdep.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-access.h"
#include "qapi/error.h"
#include "qemu/iov.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qom/object.h"

/* --- 7.0 shapes ACALSim's code is written against ------------------------ */

typedef struct AcalsimVirtioDeviceClass70 {
    DeviceRealize realize;
    DeviceUnrealize unrealize;
    void (*reset)(VirtIODevice *vdev);
    uint64_t (*get_features)(VirtIODevice *vdev, uint64_t requested, Error **errp);
    void (*set_features)(VirtIODevice *vdev, uint64_t val);
    void (*get_config)(VirtIODevice *vdev, uint8_t *config);
    void (*set_config)(VirtIODevice *vdev, const uint8_t *config);
    void (*set_status)(VirtIODevice *vdev, uint8_t val);
} AcalsimVirtioDeviceClass70;

typedef struct AcalsimTypeInfo70 {
    const char *name;
    const char *parent;
    size_t instance_size;
    void (*class_init)(ObjectClass *klass, void *data);
} AcalsimTypeInfo70;

/* What ACALSim's class_init wrote, copied into QEMU's class afterwards. */
static AcalsimVirtioDeviceClass70 acalsim_vdc70;

static inline void acalsim_virtio_init70(VirtIODevice *vdev, const char *name,
                                         uint16_t device_id, size_t config_size)
{
    (void)name;
    virtio_init(vdev, device_id, config_size);
}

static void acalsim_set_props70(DeviceClass *dc, const Property *props, size_t n)
{
    /* The last entry is the 7.0 terminator, an empty Property. */
    assert(n >= 2 && props[n - 1].name == NULL);
    device_class_set_props_n(dc, props, n - 1);
}

static void acalsim_type_register_static70(const AcalsimTypeInfo70 *info);

/* --- ACALSim's device, with the 7.0 names pointing at the shapes above --- */

#pragma push_macro("device_class_set_props")
#undef device_class_set_props
#define device_class_set_props(dc, props) \
    acalsim_set_props70((dc), (props), ARRAY_SIZE(props))
#define DEFINE_PROP_END_OF_LIST() {}
#define virtio_init(vdev, name, id, size) acalsim_virtio_init70(vdev, name, id, size)
#define VirtioDeviceClass AcalsimVirtioDeviceClass70
#define VIRTIO_DEVICE_CLASS(klass) ((void)(klass), &acalsim_vdc70)
#define TypeInfo AcalsimTypeInfo70
#define type_register_static(info) acalsim_type_register_static70(info)

#include "acalsim/virtio-sst.c"

#undef type_register_static
#undef TypeInfo
#undef VIRTIO_DEVICE_CLASS
#undef VirtioDeviceClass
#undef virtio_init
#undef DEFINE_PROP_END_OF_LIST
#pragma pop_macro("device_class_set_props")

/* --- 10.2 registration ----------------------------------------------------- */

static const AcalsimTypeInfo70 *acalsim_info70;

static int acalsim_set_status(VirtIODevice *vdev, uint8_t status)
{
    acalsim_vdc70.set_status(vdev, status);
    return 0;
}

static void acalsim_class_init(ObjectClass *klass, const void *data)
{
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    /* 7.0's class_init took a non-const pointer it never writes through. */
    acalsim_info70->class_init(klass, (void *)data);
    vdc->realize = acalsim_vdc70.realize;
    vdc->unrealize = acalsim_vdc70.unrealize;
    vdc->reset = acalsim_vdc70.reset;
    vdc->get_features = acalsim_vdc70.get_features;
    vdc->set_features = acalsim_vdc70.set_features;
    vdc->get_config = acalsim_vdc70.get_config;
    vdc->set_config = acalsim_vdc70.set_config;
    vdc->set_status = acalsim_vdc70.set_status ? acalsim_set_status : NULL;
}

static void acalsim_type_register_static70(const AcalsimTypeInfo70 *info)
{
    static TypeInfo real;

    acalsim_info70 = info;
    real = (TypeInfo){
        .name = info->name,
        .parent = info->parent,
        .instance_size = info->instance_size,
        .class_init = acalsim_class_init,
    };
    type_register_static(&real);
}
