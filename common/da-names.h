/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The names devauthd is known by on its two wires: the bus name, object
 * paths, interfaces and error names on D-Bus, the Varlink interface, its
 * socket and methods, and the polkit actions. One list for devauthd, both
 * devauthctl programs and the tests (tests/integration/wire_names.py reads
 * this file), so that no two of them spell a name apart. Plain string
 * literals: devauthctl includes it without GLib.
 *
 * tests/unit/test-names.c checks the files that must agree and cannot
 * include a header: the interface XML, the bus policy and service file,
 * the unit and the polkit policy.
 */

/* ---- D-Bus ---- */

#define DA_BUS_NAME	       "org.devauth.DeviceAuth1"
#define DA_MANAGER_OBJECT_PATH "/org/devauth/DeviceAuth1"
/* followed by the account's name, g_dbus_escape_object_path()ed */
#define DA_ACCOUNT_OBJECT_PREFIX DA_MANAGER_OBJECT_PATH "/account/"
#define DA_MANAGER_INTERFACE	 DA_BUS_NAME ".Manager"
#define DA_ACCOUNT_INTERFACE	 DA_BUS_NAME ".Account"
#define DA_DBUS_ERROR_PREFIX	 DA_BUS_NAME ".Error."

/* ---- Varlink: $RUNTIME_DIRECTORY/DA_VARLINK_SOCKET_NAME ---- */

#define DA_VARLINK_INTERFACE			     "org.devauth.DeviceAuth1"
#define DA_VARLINK_SOCKET_NAME			     "org.devauth.DeviceAuth1"
#define DA_VARLINK_METHOD_GET_TOKEN		     DA_VARLINK_INTERFACE ".GetToken"
#define DA_VARLINK_SERVICE			     "org.varlink.service"
#define DA_VARLINK_SERVICE_GET_INFO		     DA_VARLINK_SERVICE ".GetInfo"
#define DA_VARLINK_SERVICE_GET_INTERFACE_DESCRIPTION DA_VARLINK_SERVICE ".GetInterfaceDescription"
#define DA_VARLINK_SERVICE_ERROR		     DA_VARLINK_SERVICE "."

/*
 * ---- errors ----
 *
 * The same names on both wires: DA_DBUS_ERROR_PREFIX + name on D-Bus,
 * DA_VARLINK_INTERFACE "." + name on Varlink.
 */

#define DA_ERROR_NAME_NO_SUCH_ACCOUNT	"NoSuchAccount"
#define DA_ERROR_NAME_NOT_SIGNED_IN	"NotSignedIn"
#define DA_ERROR_NAME_PERMISSION_DENIED "PermissionDenied"
#define DA_ERROR_NAME_LOGIN_IN_PROGRESS "LoginInProgress"
#define DA_ERROR_NAME_LOGIN_DENIED	"LoginDenied"
#define DA_ERROR_NAME_LOGIN_EXPIRED	"LoginExpired"
#define DA_ERROR_NAME_IDP_UNREACHABLE	"IdpUnreachable"
#define DA_ERROR_NAME_IDP_ERROR		"IdpError"
#define DA_ERROR_NAME_INVALID_ARGUMENT	"InvalidArgument"
#define DA_ERROR_NAME_RATE_LIMITED	"RateLimited"
#define DA_ERROR_NAME_CANCELLED		"Cancelled"
#define DA_ERROR_NAME_INTERNAL		"Internal"

#define DA_DBUS_ERROR(name)    DA_DBUS_ERROR_PREFIX name
#define DA_VARLINK_ERROR(name) DA_VARLINK_INTERFACE "." name

/* ---- polkit actions (polkit/org.devauth.policy) ---- */

#define DA_ACTION_GET_TOKEN   "org.devauth.get-token"
#define DA_ACTION_READ_STATUS "org.devauth.read-status"
#define DA_ACTION_LOGIN	      "org.devauth.login"
#define DA_ACTION_LOGOUT      "org.devauth.logout"
